import { defineConfig } from '@playwright/test';

// Run by e2e/webapp_test.go (make test), which starts the dev stack and
// passes its URLs. Debian's Chromium, not a downloaded browser: .ci/run
// installs it.
const artefacts = process.env.HERALD_WEB_ARTEFACTS ?? 'test-results';
const root = typeof process.getuid === 'function' && process.getuid() === 0;

export default defineConfig({
  testDir: 'tests',
  outputDir: `${artefacts}/playwright`,
  // A loaded two-core machine: wait for states, generously, never for time.
  timeout: 300_000,
  expect: { timeout: 90_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: process.env.HERALD_WEB_URL,
    // A phone-size screen: the layout the app must work on.
    viewport: { width: 390, height: 844 },
    hasTouch: true,
    isMobile: true,
    launchOptions: {
      executablePath: process.env.HERALD_CHROMIUM || '/usr/bin/chromium',
      // Containers have a small /dev/shm; Chromium's sandbox refuses to
      // start as root (CI runs as root).
      args: ['--disable-dev-shm-usage', ...(root ? ['--no-sandbox'] : [])],
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    actionTimeout: 60_000,
    navigationTimeout: 60_000,
  },
});
