/** What an agent presents in its upgrade request (X-API-ID / X-API-KEY), verified by the auth service. */
export interface AgentCredentials {
  apiId: string;
  apiKey: string;
}
