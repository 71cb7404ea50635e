import { expect, test, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

// The whole journey against the real dev stack (bin/herald, started by
// e2e/webapp_test.go): sign in, register, set preferences, place an order,
// watch its email go SENT live and arrive in mailpit, cancel it and see the
// cancellation notice.
const mailpit = process.env.HERALD_MAILPIT_API ?? '';
const shots = join(process.env.HERALD_WEB_ARTEFACTS ?? 'test-results', 'screenshots');
mkdirSync(shots, { recursive: true });

async function shot(page: Page, name: string): Promise<void> {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

// mails counts the messages mailpit holds for an address.
async function mails(to: string): Promise<string[]> {
  const q = new URLSearchParams({ query: `to:"${to}"` });
  const resp = await fetch(`${mailpit}/api/v1/search?${q}`);
  if (!resp.ok) throw new Error(`mailpit search: HTTP ${resp.status}`);
  const body = (await resp.json()) as { messages: { Subject: string }[] };
  return body.messages.map((m) => m.Subject);
}

test('sign in, set preferences, order, watch it delivered, cancel', async ({ page }) => {
  expect(mailpit, 'HERALD_MAILPIT_API').not.toBe('');
  const run = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const sub = `web-${run}`;
  const email = `web-${run}@example.com`;

  // Sign in with the keyboard only: the page heading has focus, Tab reaches
  // the first field and Enter submits.
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Sign in to Herald' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('textbox', { name: 'User name' })).toBeFocused();
  await shot(page, '01-sign-in');
  await page.keyboard.type(sub);
  await page.keyboard.press('Enter');

  // Register; a bad phone number is reported next to the phone field.
  await expect(page.getByRole('heading', { level: 1, name: 'Register' })).toBeVisible();
  await page.getByLabel('Name', { exact: true }).fill('Web Tester');
  await page.getByLabel('Email').fill(email);
  const phone = page.getByLabel('Phone (optional)');
  await phone.fill('12345');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(phone).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('.field', { has: phone }).locator('.field-error')).toContainText('phone');
  await expect(phone).toBeFocused();
  await shot(page, '02-register-field-error');
  await phone.fill('');
  await page.getByRole('button', { name: 'Register' }).click();

  // Preferences: quiet hours in a chosen zone, locale, a category opt-out,
  // a webhook whose secret is shown once and then rotated.
  await expect(page.getByRole('heading', { level: 1, name: 'Notification preferences' })).toBeVisible();
  await expect(page.getByLabel('Email address')).toHaveValue(email);
  await page.getByLabel('Use quiet hours').check();
  await page.getByLabel('From').fill('22:00');
  await page.getByLabel('Until').fill('07:00');
  await page.getByLabel('Time zone').selectOption('Europe/Berlin');
  await page.getByLabel('Locale').fill('en-GB');
  await page.getByRole('group', { name: 'Marketing' }).getByLabel('Receive').check();
  await page.getByRole('group', { name: 'Marketing' }).getByLabel('SMS').check();
  const webhook = page.getByLabel('Webhook URL');
  await webhook.fill('not a url');
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await expect(webhook).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('.field', { has: webhook }).locator('.field-error')).toBeVisible();
  await shot(page, '03-preferences-field-error');
  await webhook.fill('https://hooks.example.com/herald');
  await expect(page.getByLabel('Webhook on')).toBeChecked();
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await expect(page.getByText('Preferences saved.')).toBeVisible();
  const secret = page.getByTestId('webhook-secret');
  await expect(secret).not.toBeEmpty();
  const first = await secret.textContent();
  await shot(page, '04-preferences-webhook-secret');
  await page.getByLabel('Rotate the signing secret on save').check();
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await expect(secret).not.toHaveText(first ?? '');
  // No deliveries to a host that is not there: remove the webhook again.
  await webhook.fill('');
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await expect(secret).toHaveCount(0);
  await expect(page.getByText('Preferences saved.')).toBeVisible();
  // Stored: a fresh load shows them.
  await page.reload();
  await expect(page.getByLabel('Use quiet hours')).toBeChecked();
  await expect(page.getByLabel('Time zone')).toHaveValue('Europe/Berlin');
  await expect(page.getByLabel('Locale')).toHaveValue('en-GB');
  await expect(page.getByLabel('Webhook URL')).toHaveValue('');

  // Orders: the live feed must be connected before the order is placed,
  // since the subscription shows changes from the moment it starts.
  await page.getByRole('link', { name: 'Orders' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Orders' })).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'Live updates' })).toHaveText('Live updates: connected');
  await page.getByLabel('Item').fill('Fountain pen');
  await page.getByLabel('Quantity').fill('2');
  await page.getByLabel('Unit price in minor units').fill('1999');
  await page.getByRole('button', { name: 'Place order' }).click();
  const order = page.locator('li.order', { hasText: 'Fountain pen' });
  await expect(order).toHaveAttribute('data-status', 'CREATED');
  const orderId = (await order.getAttribute('data-order')) ?? '';
  expect(orderId).not.toBe('');
  const confirmation = order.locator('.delivery[data-event="ORDER_CREATED"][data-channel="EMAIL"]');
  await expect(confirmation).toHaveAttribute('data-status', 'SENT');
  await expect.poll(() => mails(email), { timeout: 90_000 }).toHaveLength(1);
  await shot(page, '05-orders-sent');

  // The feed page: the same delivery, and the states it went through.
  await page.getByRole('link', { name: 'Live feed' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Live feed' })).toBeVisible();
  const now = page.getByRole('list', { name: 'Deliveries now' });
  await expect(now.locator(`li[data-order="${orderId}"] .delivery[data-event="ORDER_CREATED"][data-channel="EMAIL"]`)).toHaveAttribute('data-status', 'SENT');
  const history = page.getByRole('list', { name: 'Status changes, newest first' });
  await expect(history.locator(`li[data-order="${orderId}"] .delivery[data-channel="EMAIL"][data-status="PENDING"]`)).toHaveCount(1);
  await shot(page, '06-live-feed');

  // Cancel with a reason, using the keyboard.
  await page.getByRole('link', { name: 'Orders' }).click();
  const row = page.locator(`li.order[data-order="${orderId}"]`);
  await row.getByLabel('Reason for cancelling (optional)').fill('Ordered by mistake');
  await row.getByLabel('Reason for cancelling (optional)').press('Enter');
  await expect(row).toHaveAttribute('data-status', 'CANCELLED');
  await expect(row).toContainText('Ordered by mistake');
  await expect(row.locator('.delivery[data-event="ORDER_CANCELLED"][data-channel="EMAIL"]')).toHaveAttribute('data-status', 'SENT');
  await expect.poll(() => mails(email), { timeout: 90_000 }).toHaveLength(2);
  await shot(page, '07-orders-cancelled');
  await page.getByRole('link', { name: 'Live feed' }).click();
  await expect(page.locator(`ul[aria-label="Deliveries now"] li[data-order="${orderId}"] .delivery[data-event="ORDER_CANCELLED"][data-channel="EMAIL"]`)).toHaveAttribute('data-status', 'SENT');
  await shot(page, '08-live-feed-cancelled');

  // Pages of five: five more orders push the first one to page two.
  await page.getByRole('link', { name: 'Orders' }).click();
  for (let i = 1; i <= 5; i++) {
    await page.getByLabel('Item').fill(`Pencil ${i}`);
    await page.getByRole('button', { name: 'Place order' }).click();
    await expect(page.locator('li.order', { hasText: `Pencil ${i}` })).toBeVisible();
  }
  await expect(page.locator(`li.order[data-order="${orderId}"]`)).toHaveCount(0);
  await page.getByRole('button', { name: 'Older' }).click();
  await expect(page.getByText('Page 2')).toBeVisible();
  await expect(page.locator(`li.order[data-order="${orderId}"]`)).toHaveAttribute('data-status', 'CANCELLED');
  await shot(page, '09-orders-page-2');
  await page.getByRole('button', { name: 'Newer' }).click();
  await expect(page.locator('li.order', { hasText: 'Pencil 5' })).toBeVisible();
});

// Production's way in: a token from the identity provider, pasted. One that
// is not a JWT is refused next to its field; a valid one signs in.
test('sign in with a pasted token', async ({ page, request }) => {
  const resp = await request.post('/dev/token', { data: { sub: `paste-${Date.now()}` } });
  expect(resp.ok()).toBe(true);
  const { token } = (await resp.json()) as { token: string };

  await page.goto('/');
  const field = page.getByLabel('Access token');
  await field.fill('not-a-token');
  await page.getByRole('button', { name: 'Use token' }).click();
  await expect(field).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('.field', { has: field }).locator('.field-error')).toContainText('JSON Web Token');
  await field.fill(token);
  await page.getByRole('button', { name: 'Use token' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Register' })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Sign in to Herald' })).toBeVisible();
});
