// The live feed: the caller's notification status events from the
// notificationStatus subscription, kept for this browser tab. Pages read
// the latest state of each delivery and re-render when one changes.
import type { Client } from 'graphql-ws';
import { wsClient } from './api';

export interface StatusEvent {
  notificationId: string;
  eventId: string;
  event: 'ORDER_CREATED' | 'ORDER_CANCELLED' | null;
  orderId: string;
  channel: string;
  status: string;
  attempt: number;
  reason: string | null;
  nextAttemptAt: string | null;
  time: string;
}

const subscription = `subscription Feed {
  notificationStatus {
    notificationId eventId event orderId channel status attempt reason nextAttemptAt time
  }
}`;

type Listener = () => void;

const rank: Record<string, number> = { PENDING: 0, DEFERRED: 1, RETRYING: 1, SENT: 2, FAILED: 2, SKIPPED: 2 };

function newer(e: StatusEvent, prev: StatusEvent): boolean {
  const d = (rank[e.status] ?? 0) - (rank[prev.status] ?? 0);
  return d > 0 || (d === 0 && Date.parse(e.time) >= Date.parse(prev.time));
}

class Feed {
  events: StatusEvent[] = []; // newest first
  deliveries = new Map<string, StatusEvent>(); // notificationId → latest
  connected = false;
  private client: Client | null = null;
  private stop: (() => void) | null = null;
  private listeners = new Set<Listener>();

  start(): void {
    if (this.client) return;
    this.client = wsClient((c) => {
      this.connected = c;
      this.emit();
    });
    this.subscribe();
  }

  private subscribe(): void {
    if (!this.client) return;
    this.stop = this.client.subscribe<{ notificationStatus: StatusEvent }>(
      { query: subscription },
      {
        next: (r) => {
          const e = r.data?.notificationStatus;
          if (e) this.add(e);
        },
        // A subscriber closed as too slow, or a server restart: subscribe
        // again (events in between are missed; the feed says live from now).
        error: () => this.resubscribe(),
        complete: () => this.resubscribe(),
      },
    );
  }

  private resubscribe(): void {
    if (!this.client) return;
    window.setTimeout(() => this.subscribe(), 1000);
  }

  add(e: StatusEvent): void {
    this.events.unshift(e);
    if (this.events.length > 500) this.events.length = 500;
    const prev = this.deliveries.get(e.notificationId);
    // Events may arrive out of order; a delivery's state only moves forward.
    if (!prev || newer(e, prev)) this.deliveries.set(e.notificationId, e);
    this.emit();
  }

  close(): void {
    this.stop?.();
    const c = this.client;
    this.client = null;
    this.stop = null;
    void c?.dispose();
    this.events = [];
    this.deliveries.clear();
    this.connected = false;
    this.emit();
  }

  forOrder(orderId: string): StatusEvent[] {
    return [...this.deliveries.values()].filter((d) => d.orderId === orderId);
  }

  on(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(): void {
    this.listeners.forEach((l) => l());
  }
}

export const feed = new Feed();
