import { h } from '../dom';
import { feed } from '../feed';
import type { Page } from './page';
import { orderRef, statusLine, when } from './status';

// The in-app channel made visible: every status change of the caller's
// notifications as it happens, and each delivery's current state.
export const feedPage: Page = async (main) => {
  const current = h('ul', { class: 'deliveries', 'aria-label': 'Deliveries now' });
  const history = h('ol', { class: 'events', 'aria-label': 'Status changes, newest first' });
  const render = () => {
    const ds = [...feed.deliveries.values()].sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
    current.replaceChildren(...ds.map((d) => h('li', { 'data-order': d.orderId }, h('span', { class: 'order-ref' }, orderRef(d.orderId)), ' ', statusLine(d))));
    history.replaceChildren(...feed.events.slice(0, 100).map((e) =>
      h('li', { 'data-order': e.orderId }, h('time', { datetime: e.time }, when(e.time)), ' ', h('span', { class: 'order-ref' }, orderRef(e.orderId)), ' ', statusLine(e))));
    if (!ds.length) current.append(h('li', {}, 'Nothing yet: place an order and its notifications appear here as they are delivered.'));
  };
  render();
  main.append(
    h('h1', { tabindex: '-1' }, 'Live feed'),
    h('p', {}, 'Your notifications as Herald delivers them: PENDING, then DEFERRED or RETRYING when it must wait, then SENT, FAILED or SKIPPED, with the reason. The feed starts when you sign in.'),
    h('section', { 'aria-labelledby': 'now-h' }, h('h2', { id: 'now-h' }, 'Deliveries'), current),
    h('section', { 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, 'Status changes'), history),
  );
  return feed.on(render);
};
