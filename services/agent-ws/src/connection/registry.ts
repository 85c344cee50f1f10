/** What the registry needs to know about a connection. */
export interface RegisteredConnection {
  readonly hostId: string;
  readonly connectionId: string;
}

/**
 * The live agent connections of this replica: at most one per host. Registering a second connection for a host
 * returns the one it replaces, which the caller closes (CloseCode.REPLACED). Removal only removes the connection
 * still registered, so a late close of a replaced socket never evicts its successor.
 */
export class AgentRegistry<C extends RegisteredConnection> {
  private readonly byHost = new Map<string, C>();

  /** Registers `connection`; returns the connection it replaced, if any. */
  add(connection: C): C | undefined {
    const previous = this.byHost.get(connection.hostId);
    this.byHost.set(connection.hostId, connection);
    return previous === connection ? undefined : previous;
  }

  /** Removes `connection` if it is still the registered one; returns whether it was. */
  remove(connection: C): boolean {
    if (this.byHost.get(connection.hostId) !== connection) return false;
    this.byHost.delete(connection.hostId);
    return true;
  }

  get(hostId: string): C | undefined {
    return this.byHost.get(hostId);
  }

  isCurrent(connection: C): boolean {
    return this.byHost.get(connection.hostId) === connection;
  }

  get size(): number {
    return this.byHost.size;
  }

  values(): IterableIterator<C> {
    return this.byHost.values();
  }

  hostIds(): IterableIterator<string> {
    return this.byHost.keys();
  }
}
