// Small DOM helpers: the app has no framework, so pages build their
// elements with h() and forms report errors with showErrors().
import { ApiError } from './api';

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | number | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

let ids = 0;
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

// field builds a labelled input; data-field names the API input field whose
// errors appear under it.
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  input.id ||= uid('f');
  const wrap = h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
  if (hint) {
    const hid = uid('hint');
    wrap.append(h('p', { class: 'hint', id: hid }, hint));
    input.setAttribute('aria-describedby', hid);
  }
  return wrap;
}

export function clearErrors(form: HTMLElement): void {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => {
    e.removeAttribute('aria-invalid');
    const d = e.getAttribute('aria-describedby')?.split(' ').filter((id) => !id.startsWith('err-')).join(' ');
    if (d) e.setAttribute('aria-describedby', d);
    else e.removeAttribute('aria-describedby');
  });
  const summary = form.querySelector<HTMLElement>('.form-error');
  if (summary) summary.textContent = '';
}

// target finds the input for an API field such as input.preferences.locale,
// falling back to its nearest named parent (input.preferences.quietHours for
// input.preferences.quietHours.start when only the group is marked).
function target(form: HTMLElement, name: string | undefined): HTMLElement | null {
  let f = name;
  while (f) {
    const el = form.querySelector<HTMLElement>(`[data-field="${CSS.escape(f)}"]`);
    if (el) return el;
    const dot = f.lastIndexOf('.');
    f = dot > 0 ? f.slice(0, dot) : '';
  }
  return null;
}

// showErrors puts each error next to the field it names and the rest in the
// form's summary, then moves focus to the first one.
export function showErrors(form: HTMLElement, err: unknown): void {
  clearErrors(form);
  const errors = err instanceof ApiError ? err.errors : [{ message: String(err) }];
  const summary = form.querySelector<HTMLElement>('.form-error');
  let first: HTMLElement | null = null;
  for (const e of errors) {
    const el = target(form, e.extensions?.field);
    if (!el) {
      if (summary) summary.textContent = [summary.textContent, e.message].filter(Boolean).join(' ');
      first ||= summary;
      continue;
    }
    const id = uid('err');
    const msg = h('p', { class: 'field-error', id }, e.message);
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-describedby', [el.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
    (el.closest('.field') ?? el).append(msg);
    first ||= el;
  }
  first?.focus();
}

export function formError(): HTMLElement {
  return h('p', { class: 'form-error', role: 'alert', tabindex: '-1' });
}

// busy disables a form's submit button while a request is under way.
export async function busy<T>(form: HTMLFormElement, work: () => Promise<T>): Promise<T | undefined> {
  const buttons = form.querySelectorAll<HTMLButtonElement>('button');
  buttons.forEach((b) => (b.disabled = true));
  form.setAttribute('aria-busy', 'true');
  clearErrors(form);
  try {
    return await work();
  } catch (err) {
    showErrors(form, err);
    return undefined;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    form.removeAttribute('aria-busy');
  }
}
