/** The browser of the status page tests. */

/** Debian's Chromium, as root, headless, with nothing reaching out to the network (see docs/OPERATIONS.md). */
export const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
