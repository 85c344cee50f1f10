/** BullMQ queue names, declared once: producers, workers and Bull Board all read this list. */
export const QueueNames = {
  agentCommands: "agent-commands",
} as const;

export const ALL_QUEUES: readonly string[] = Object.values(QueueNames);
