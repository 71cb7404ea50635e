import { gql } from '../api';
import { busy, field, formError, h } from '../dom';
import { go } from '../route';
import { currentUser } from '../session';
import type { Page } from './page';

const mutation = `mutation Register($input: RegisterUserInput!) {
  registerUser(input: $input) { id }
}`;

export const registerPage: Page = async (main) => {
  const name = h('input', { name: 'name', autocomplete: 'name', required: true, 'data-field': 'input.name' });
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true, 'data-field': 'input.email' });
  const phone = h('input', { name: 'phone', type: 'tel', autocomplete: 'tel', 'data-field': 'input.phone' });
  const form = h('form', { novalidate: true },
    field('Name', name),
    field('Email', email),
    field('Phone (optional)', phone, 'With + and the country code, for example +4930123456; needed for SMS.'),
    formError(),
    h('button', { type: 'submit' }, 'Register'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void busy(form, async () => {
      await gql(mutation, {
        input: { name: name.value, email: email.value, phone: phone.value.trim() || null, preferences: { inApp: true } },
      });
      await currentUser(true);
      go('preferences');
    });
  });
  main.append(
    h('h1', { tabindex: '-1' }, 'Register'),
    h('p', {}, 'You are signed in but Herald does not know you yet. Tell it where to reach you.'),
    form,
  );
};
