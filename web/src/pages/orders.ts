import { gql } from '../api';
import { busy, field, formError, h } from '../dom';
import { feed } from '../feed';
import { currentUser } from '../session';
import type { Page } from './page';
import { orderRef, statusLine, when } from './status';

interface Order {
  id: string;
  totalMinor: number;
  currency: string;
  status: string;
  createdAt: string;
  cancelReason: string | null;
  items: { name: string; quantity: number }[];
}

const list = `query Orders($userId: ID!, $after: String) {
  orders(userId: $userId, first: 5, after: $after) {
    edges { node { id totalMinor currency status createdAt cancelReason items { name quantity } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const create = `mutation Create($input: CreateOrderInput!) { createOrder(input: $input) { id } }`;
const cancel = `mutation Cancel($id: ID!, $reason: String) { cancelOrder(id: $id, reason: $reason) { id status } }`;

function money(minor: number, currency: string): string {
  const f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  return f.format(minor / 10 ** digits);
}

export const ordersPage: Page = async (main) => {
  const me = await currentUser();
  if (!me) return;
  const heading = h('h1', { tabindex: '-1' }, 'Orders');

  // Create.
  const name = h('input', { name: 'item-name', required: true, value: 'Notebook', 'data-field': 'input.items' });
  const sku = h('input', { name: 'sku', required: true, value: 'NB-1', 'data-field': 'input.items.0.sku' });
  const qty = h('input', { name: 'quantity', type: 'number', min: '1', value: '1', inputmode: 'numeric', 'data-field': 'input.items.0.quantity' });
  const price = h('input', { name: 'price', type: 'number', min: '0', value: '1250', inputmode: 'numeric', 'data-field': 'input.items.0.unitPriceMinor' });
  const currency = h('select', { name: 'currency', 'data-field': 'input.currency' }, ...['EUR', 'USD', 'GBP', 'JPY'].map((c) => h('option', { value: c }, c)));
  const createForm = h('form', { novalidate: true, 'aria-labelledby': 'new-h' },
    h('h2', { id: 'new-h' }, 'New order'),
    field('Item', name), field('SKU', sku), field('Quantity', qty),
    field('Unit price in minor units', price, 'Cents for EUR and USD: 1250 is 12.50.'), field('Currency', currency),
    formError(),
    h('button', { type: 'submit' }, 'Place order'),
  );
  createForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void busy(createForm, async () => {
      await gql(create, {
        input: {
          userId: me.id,
          currency: currency.value,
          idempotencyKey: crypto.randomUUID(),
          items: [{ sku: sku.value.trim(), name: name.value.trim(), quantity: Number(qty.value), unitPriceMinor: Number(price.value) }],
        },
      });
      cursors = [null];
      await load();
      listHeading.focus();
    });
  });

  // List, a page of five at a time, with each order's deliveries live.
  const listHeading = h('h2', { id: 'list-h', tabindex: '-1' }, 'Your orders');
  const rows = h('ul', { class: 'orders', 'aria-labelledby': 'list-h' });
  const pager = h('div', { class: 'pager' });
  const listError = formError();
  let cursors: (string | null)[] = [null]; // cursor of each page seen
  let orders: Order[] = [];

  const renderRows = () => {
    rows.replaceChildren(...orders.map(orderRow));
    if (!orders.length) rows.append(h('li', {}, 'No orders yet.'));
    renderDeliveries();
  };
  // Feed events refresh only the notification lists, so a reason being
  // typed and the focus stay where they are.
  const renderDeliveries = () => {
    rows.querySelectorAll<HTMLElement>('ul.deliveries[data-order]').forEach((ul) => {
      const ds = feed.forOrder(ul.dataset.order!).sort((a, b) => String(a.event).localeCompare(String(b.event)) || a.channel.localeCompare(b.channel));
      ul.replaceChildren(...ds.map((d) => h('li', {}, statusLine(d))));
      ul.hidden = ds.length === 0;
    });
  };
  const orderRow = (o: Order) => {
    const li = h('li', { class: 'order', 'data-order': o.id, 'data-status': o.status },
      h('h3', {}, `${o.items.map((i) => `${i.quantity} × ${i.name}`).join(', ')} — ${money(o.totalMinor, o.currency)}`),
      h('p', {}, `${orderRef(o.id)} · placed ${when(o.createdAt)} · `, h('strong', { class: 'order-status' }, o.status),
        o.cancelReason ? ` (${o.cancelReason})` : ''),
      h('ul', { class: 'deliveries', 'aria-label': 'Notifications', 'data-order': o.id }),
    );
    if (o.status === 'CREATED') {
      const reason = h('input', { name: 'reason', maxlength: '500', 'data-field': 'reason' });
      const f = h('form', { class: 'cancel', novalidate: true },
        field('Reason for cancelling (optional)', reason), formError(),
        h('button', { type: 'submit' }, 'Cancel order'));
      f.addEventListener('submit', (ev) => {
        ev.preventDefault();
        void busy(f, async () => {
          await gql(cancel, { id: o.id, reason: reason.value.trim() || null });
          await load();
          listHeading.focus();
        });
      });
      li.append(f);
    }
    return li;
  };

  const load = async () => {
    listError.textContent = '';
    try {
      const r = await gql<{ orders: { edges: { node: Order }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(list, { userId: me.id, after: cursors[cursors.length - 1] });
      orders = r.orders.edges.map((e) => e.node);
      renderRows();
      const page = cursors.length;
      pager.replaceChildren(
        h('button', { type: 'button', disabled: page === 1, onclick: () => { cursors.pop(); void load(); } }, 'Newer'),
        h('span', {}, ` Page ${page} `),
        h('button', { type: 'button', disabled: !r.orders.pageInfo.hasNextPage, onclick: () => { cursors.push(r.orders.pageInfo.endCursor); void load(); } }, 'Older'),
      );
    } catch (err) {
      listError.textContent = err instanceof Error ? err.message : String(err);
    }
  };

  main.append(heading, createForm, h('section', { 'aria-labelledby': 'list-h' }, listHeading, listError, rows, pager));
  await load();
  return feed.on(renderDeliveries);
};
