import { h } from '../dom';
import type { StatusEvent } from '../feed';

const eventNames: Record<string, string> = { ORDER_CREATED: 'Order confirmation', ORDER_CANCELLED: 'Cancellation notice' };

export function eventName(e: StatusEvent): string {
  return e.event ? eventNames[e.event] ?? e.event : 'Notification';
}

// orderRef is how an order is named on screen: the end of its id, since
// ids are time-ordered (UUIDv7) and orders placed together share the start.
export function orderRef(id: string): string {
  return `Order …${id.slice(-8)}`;
}

export function when(t: string | null): string {
  return t ? new Date(t).toLocaleString() : '';
}

// statusLine is one delivery's state: what, by which channel, the status
// and why.
export function statusLine(e: StatusEvent): HTMLElement {
  const why = [
    e.reason,
    e.nextAttemptAt ? `next attempt ${when(e.nextAttemptAt)}` : '',
    e.attempt > 0 ? `attempt ${e.attempt}` : '',
  ].filter(Boolean).join(' · ');
  return h('span', { class: 'delivery', 'data-event': e.event ?? '', 'data-channel': e.channel, 'data-status': e.status },
    `${eventName(e)} by ${e.channel.replace('_', '-').toLowerCase()}: `,
    h('strong', { class: `status status-${e.status.toLowerCase()}` }, e.status),
    why ? ` (${why})` : '',
  );
}
