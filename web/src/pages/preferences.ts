import { gql } from '../api';
import { busy, field, formError, h } from '../dom';
import { currentUser } from '../session';
import type { Page } from './page';

interface Prefs {
  channels: { channel: string; enabled: boolean; address: string | null; usable: boolean }[];
  categories: { category: string; critical: boolean; enabled: boolean; optedOut: string[] }[];
  quietHours: { start: string; end: string; timeZone: string } | null;
  locale: string;
}
interface User {
  id: string;
  email: string;
  phone: string | null;
  preferences: Prefs;
}

const query = `query Prefs {
  me { id email phone preferences {
    channels { channel enabled address usable }
    categories { category critical enabled optedOut }
    quietHours { start end timeZone }
    locale
  } }
}`;

const mutation = `mutation SavePrefs($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { user { id } webhookSigningSecret }
}`;

const channelNames: Record<string, string> = { EMAIL: 'Email', SMS: 'SMS', WEBHOOK: 'Webhook', IN_APP: 'In-app (live feed)' };
const categoryNames: Record<string, string> = { ORDER_UPDATES: 'Order updates', MARKETING: 'Marketing' };

function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  return intl.supportedValuesOf?.('timeZone') ?? ['UTC'];
}

export const preferencesPage: Page = async (main) => {
  const heading = h('h1', { tabindex: '-1' }, 'Notification preferences');
  main.append(heading);
  const { me } = await gql<{ me: User | null }>(query);
  if (!me) return;
  const p = me.preferences;
  const ch = (c: string) => p.channels.find((x) => x.channel === c)!;

  // Channels with their addresses.
  const on: Record<string, HTMLInputElement> = {};
  for (const c of p.channels) {
    on[c.channel] = h('input', { type: 'checkbox', name: `channel-${c.channel}`, checked: c.enabled, 'data-field': `input.preferences.${c.channel === 'IN_APP' ? 'inApp' : c.channel.toLowerCase()}` });
  }
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', value: me.email, 'data-field': 'input.email' });
  const phone = h('input', { name: 'phone', type: 'tel', autocomplete: 'tel', value: me.phone ?? '', 'data-field': 'input.phone' });
  const webhookURL = h('input', { name: 'webhook', type: 'url', inputmode: 'url', value: ch('WEBHOOK').address ?? '', 'data-field': 'input.webhook.url' });
  // A URL typed in switches the channel on, as the API does for a new URL;
  // clearing it switches it off.
  webhookURL.addEventListener('input', () => {
    const url = webhookURL.value.trim();
    if (url && !ch('WEBHOOK').address) on.WEBHOOK.checked = true;
    if (!url) on.WEBHOOK.checked = false;
  });
  const rotate = h('input', { type: 'checkbox', name: 'rotate', 'data-field': 'input.webhook.rotateSecret' });
  const check = (c: string) => field(`${channelNames[c]} on`, on[c]);
  const channels = h('fieldset', {},
    h('legend', {}, 'Channels'),
    h('div', { class: 'channel' }, check('EMAIL'), field('Email address', email)),
    h('div', { class: 'channel' }, check('SMS'), field('Phone for SMS', phone, 'With + and the country code; leave empty to remove.')),
    h('div', { class: 'channel' }, check('WEBHOOK'), field('Webhook URL', webhookURL, 'https only. A new URL gets a new signing secret, shown once; empty removes the webhook.'),
      field('Rotate the signing secret on save', rotate)),
    h('div', { class: 'channel' }, check('IN_APP')),
  );

  // Categories with opt-outs.
  const catInputs = p.categories.map((c) => {
    const enabled = h('input', { type: 'checkbox', name: `cat-${c.category}`, checked: c.enabled, disabled: c.critical });
    const outs = Object.keys(channelNames).map((chName) => ({
      ch: chName,
      box: h('input', { type: 'checkbox', name: `optout-${c.category}-${chName}`, checked: c.optedOut.includes(chName) }),
    }));
    const box = h('fieldset', { 'data-field': 'input.preferences.categories' },
      h('legend', {}, categoryNames[c.category] ?? c.category),
      field(c.critical ? 'Receive (always on: critical)' : 'Receive', enabled),
      h('fieldset', { class: 'inline' }, h('legend', {}, 'Not by'), ...outs.map((o) => field(channelNames[o.ch], o.box))),
    );
    return { c, enabled, outs, box };
  });
  const categories = h('fieldset', {}, h('legend', {}, 'Categories'), ...catInputs.map((x) => x.box));

  // Quiet hours with a time-zone picker.
  const qh = p.quietHours;
  const quietOn = h('input', { type: 'checkbox', name: 'quiet', checked: qh != null });
  const start = h('input', { type: 'time', name: 'quiet-start', value: qh?.start ?? '22:00', 'data-field': 'input.preferences.quietHours.start' });
  const end = h('input', { type: 'time', name: 'quiet-end', value: qh?.end ?? '07:00', 'data-field': 'input.preferences.quietHours.end' });
  const zone = h('select', { name: 'quiet-zone', 'data-field': 'input.preferences.quietHours.timeZone' });
  const current = qh?.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zones = timeZones();
  if (!zones.includes(current)) zones.unshift(current);
  zone.append(...zones.map((z) => h('option', { value: z, selected: z === current }, z.replaceAll('_', ' '))));
  const quiet = h('fieldset', { 'data-field': 'input.preferences.quietHours' },
    h('legend', {}, 'Quiet hours'),
    h('p', { class: 'hint' }, 'Non-critical notifications wait until the window ends. A window may span midnight.'),
    field('Use quiet hours', quietOn), field('From', start), field('Until', end), field('Time zone', zone),
  );

  const locale = h('input', { name: 'locale', value: p.locale, list: 'locales', autocomplete: 'language', 'data-field': 'input.preferences.locale' });
  const locales = h('datalist', { id: 'locales' }, ...['en', 'en-GB', 'en-US', 'de', 'de-DE', 'fr', 'es', 'pt-BR'].map((l) => h('option', { value: l })));

  const secret = h('div', { class: 'secret', role: 'status' });
  const saved = h('p', { role: 'status', class: 'saved' });
  const form = h('form', { novalidate: true, 'aria-labelledby': heading.id || undefined },
    channels, categories, quiet,
    h('fieldset', {}, h('legend', {}, 'Language'), field('Locale', locale, 'A BCP 47 tag such as en-GB; picks the language of messages.'), locales),
    formError(),
    h('button', { type: 'submit' }, 'Save preferences'),
    saved,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    saved.textContent = '';
    void busy(form, async () => {
      const input: Record<string, unknown> = {
        preferences: {
          email: on.EMAIL.checked,
          sms: on.SMS.checked,
          inApp: on.IN_APP.checked,
          locale: locale.value.trim(),
          quietHours: quietOn.checked ? { start: start.value, end: end.value, timeZone: zone.value } : null,
          categories: catInputs.map((x) => ({
            category: x.c.category,
            ...(x.c.critical ? {} : { enabled: x.enabled.checked }),
            optedOut: x.outs.filter((o) => o.box.checked).map((o) => o.ch),
          })),
        },
      };
      if (email.value.trim() !== me.email) input.email = email.value.trim();
      if (phone.value.trim() !== (me.phone ?? '')) input.phone = phone.value.trim();
      const url = webhookURL.value.trim();
      const oldURL = ch('WEBHOOK').address ?? '';
      const webhook: Record<string, unknown> = {};
      if (url !== oldURL) webhook.url = url;
      if (url || oldURL) webhook.enabled = on.WEBHOOK.checked;
      if (rotate.checked) webhook.rotateSecret = true;
      if (Object.keys(webhook).length) input.webhook = webhook;
      const r = await gql<{ updateUser: { webhookSigningSecret: string | null } }>(mutation, { id: me.id, input });
      const s = r.updateUser.webhookSigningSecret;
      secret.replaceChildren();
      if (s) {
        secret.append(
          h('h2', {}, 'Webhook signing secret'),
          h('p', {}, 'Store it now: Herald shows it only this once. Requests to your URL are signed with it (HMAC-SHA256).'),
          h('code', { class: 'secret-value', 'data-testid': 'webhook-secret' }, s),
        );
      }
      rotate.checked = false;
      me.email = email.value.trim();
      me.phone = phone.value.trim() || null;
      ch('WEBHOOK').address = url || null;
      await currentUser(true);
      saved.textContent = 'Preferences saved.';
    });
  });
  main.append(secret, form);
};
