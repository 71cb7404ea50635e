import { ApiError, devToken } from '../api';
import { busy, field, formError, h } from '../dom';
import { go } from '../route';
import { signIn } from '../session';
import type { Page } from './page';

// Development sign-in: the dev stack mints a token for any name (POST
// /dev/token). In production the token comes from the team's OIDC provider;
// this page also takes one pasted in.
export const signInPage: Page = async (main) => {
  const sub = h('input', { name: 'sub', autocomplete: 'username', required: true, 'data-field': 'sub', value: '' });
  const dev = h('form', { 'aria-labelledby': 'dev-h' },
    h('h2', { id: 'dev-h' }, 'Development sign-in'),
    h('p', {}, 'The development stack (make run) signs you in as anyone: pick a user name. Each name is its own user.'),
    field('User name', sub),
    formError(),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  dev.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void busy(dev, async () => {
      signIn(await devToken(sub.value.trim()));
      go('orders');
    });
  });

  const tok = h('textarea', { name: 'token', rows: '3', required: true, 'data-field': 'token', spellcheck: 'false' });
  const paste = h('form', { 'aria-labelledby': 'tok-h' },
    h('h2', { id: 'tok-h' }, 'Sign in with a token'),
    h('p', {}, 'In production Herald trusts your team\'s OpenID Connect provider (docs/security.md): paste an access token it issued for Herald.'),
    field('Access token', tok),
    formError(),
    h('button', { type: 'submit' }, 'Use token'),
  );
  paste.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void busy(paste, async () => {
      const t = tok.value.trim();
      if (t.split('.').length !== 3) throw new ApiError([{ message: 'This is not a JSON Web Token (three dot-separated parts).', extensions: { field: 'token' } }]);
      signIn(t);
      go('orders');
    });
  });

  main.append(h('h1', { tabindex: '-1' }, 'Sign in to Herald'), dev, paste);
};
