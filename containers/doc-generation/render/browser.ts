import { chromium, Browser, BrowserContext, Page } from 'playwright-core';
import type { Logger } from '../../../core/logger';
import { withinTime } from '../../../core/time-limit';
import { Semaphore } from '../../shared/semaphore';

/**
 * HTML → PDF with one Chromium per worker process, driven by playwright-core (no bundled
 * browser: the system Chromium at `executablePath`).
 *
 * - one browser serves every job, and each of its tabs (a context with one page) serves one
 *   job after another: opening a context and its page costs about ten times the render
 *   itself (a new renderer process). Reuse leaks nothing between clients' documents: with
 *   JavaScript off and every request aborted a document can set no cookie, storage or cache
 *   entry, and `setContent` replaces the whole document. A tab whose render failed is closed,
 *   not reused;
 * - at most `maxConcurrentPages` pages render at once, and as many tabs stay open:
 *   `page.pdf()` holds a core, and each tab costs tens of MB;
 * - the browser is recycled after `recycleAfter` documents (long-lived browsers grow): the
 *   next job starts a new browser while jobs in hand finish on the old one, which closes
 *   when its last page is done;
 * - a browser that dies (crash, OOM kill) is replaced, and the job that saw it die (or saw
 *   its page crash) is rendered once more on a new browser instead of failing;
 * - JavaScript is off and every network request is aborted: generated content can carry
 *   links or image URLs, and the renderer must never fetch them (SSRF to the task metadata
 *   endpoint, tracking pixels).
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
  // Memory a renderer of documents never uses. Chromium keeps a spare renderer warm for the next
  // navigation (tabs are reused and never navigate: ~25 MB PSS in bench:workers); and headless
  // Chromium 156 opens a window per context whose omnibox popup is a WebUI page in a renderer of
  // its own (chrome://omnibox-popup.top-chrome/, its AI-mode page too): two per tab, ~55 MB PSS
  // each (bench:workers, 2 at a time: peak 600 -> 511 MB). Chromium merges this list with
  // Playwright's own --disable-features.
  '--disable-features=SpareRendererForSitePerProcess,WebUIOmniboxPopup,WebUIOmniboxAimPopup',
];

export interface PdfRendererOptions {
  executablePath: string;
  maxConcurrentPages: number;
  recycleAfter: number;
  logger: Logger;
  renderTimeoutMs?: number;
}

interface Tab {
  context: BrowserContext;
  page: Page;
  /** Aborted (with BrowserGone) when the page's renderer crashes. */
  crashed: AbortSignal;
}

interface Generation {
  id: number;
  browser: Promise<Browser>;
  /** Aborted (with BrowserGone) when the browser disconnects (killed, crashed, closed). */
  gone: AbortSignal;
  /** Tabs of this browser waiting for their next job. */
  idle: Tab[];
  uses: number;
  active: number;
  retired: boolean;
  /** The browser process, asked of the browser once it is up: what is killed when it does not close. */
  pid?: number;
}

export class PdfRenderer {
  private current?: Generation;
  private generations = 0;
  private tabs = 0;
  private readonly slots: Semaphore;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly opts: PdfRendererOptions) {
    if (!Number.isInteger(opts.recycleAfter) || opts.recycleAfter < 1) throw new Error(`recycleAfter must be a positive integer, got ${opts.recycleAfter}`);
    this.slots = new Semaphore(opts.maxConcurrentPages);
    this.log = opts.logger.child({ component: 'pdf-renderer' });
  }

  /** What each page operation may take (RENDER_TIMEOUT_MS). */
  private get stepTimeoutMs(): number {
    return this.opts.renderTimeoutMs ?? 30_000;
  }

  /** Browsers launched so far (restarts and recycles included). */
  get launches(): number {
    return this.generations;
  }

  /** Tabs opened so far, over every browser. */
  get tabsOpened(): number {
    return this.tabs;
  }

  render(html: string): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('PDF renderer is closed'));
    return this.slots.with(async () => {
      // Closed while it waited for a page: a browser launched now would outlive the close, which nothing ends.
      if (this.closed) throw new Error('PDF renderer is closed');
      try {
        return await this.renderOnce(html);
      } catch (err) {
        if (!(err instanceof BrowserGone)) throw err;
        this.log.warn('browser or page died during a render; rendering again on a new browser', { err: err.cause });
        return this.renderOnce(html);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const gen = this.current;
    this.current = undefined;
    if (gen) {
      gen.retired = true;
      if (gen.active === 0) await this.shutdown(gen);
    }
  }

  private async renderOnce(html: string): Promise<Buffer> {
    const gen = this.checkout();
    let browser: Browser | undefined;
    try {
      browser = await gen.browser;
      // A killed browser or crashed renderer does not always fail the call in progress: every
      // step races against both, so the job fails over at once instead of hanging.
      const b = browser;
      const guard = <T>(step: Promise<T>, ...also: AbortSignal[]): Promise<T> => unlessAborted(step, gen.gone, ...also);
      const tab = gen.idle.pop() ?? (await guard(this.openTabInTime(b)));
      let reusable = false;
      try {
        await guard(tab.page.setContent(html, { waitUntil: 'load' }), tab.crashed);
        // Playwright gives page.pdf() no timeout, not even the page's default: a long print (minutes
        // for hundreds of heavy pages) or a hung renderer would hold the page, the render slot and
        // the message for ever. The step timeout bounds it as it bounds setContent.
        const pdf = await guard(withTimeout(tab.page.pdf({ preferCSSPageSize: true, printBackground: true }), this.stepTimeoutMs, 'page.pdf'), tab.crashed);
        reusable = true;
        return pdf;
      } finally {
        // A retired browser closes with its tabs once its last job is done.
        if (reusable && !gen.retired) gen.idle.push(tab);
        else if (!gen.retired && b.isConnected()) {
          // A renderer that does not let its tab close in time leaves the browser suspect: new jobs get a new one.
          await guard(withTimeout(tab.context.close(), this.stepTimeoutMs, 'context.close')).catch(() => (gen.retired = true));
        }
      }
    } catch (err) {
      if (err instanceof BrowserGone || !browser || !browser.isConnected()) {
        gen.retired = true;
        throw err instanceof BrowserGone ? err : new BrowserGone(err);
      }
      throw err;
    } finally {
      this.checkin(gen);
    }
  }

  /**
   * A new tab, or BrowserGone: Playwright gives newContext() and newPage() no timeout, and a
   * browser that cannot open a tab within the step timeout is hung, so the job goes to a new one.
   */
  private openTabInTime(browser: Browser): Promise<Tab> {
    return withTimeout(this.openTab(browser), this.stepTimeoutMs, 'open tab').catch((err: unknown) => {
      throw err instanceof Error && err.name === 'TimeoutError' ? new BrowserGone(err) : err;
    });
  }

  private async openTab(browser: Browser): Promise<Tab> {
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      await context.route('**/*', (route) => route.abort());
      const page = await context.newPage();
      page.setDefaultTimeout(this.stepTimeoutMs);
      const crashed = new AbortController();
      page.once('crash', () => crashed.abort(new BrowserGone(new Error('page crashed'))));
      this.tabs += 1;
      return { context, page, crashed: crashed.signal };
    } catch (err) {
      await context.close().catch(() => undefined);
      throw err;
    }
  }

  private checkout(): Generation {
    let gen = this.current;
    if (!gen || gen.retired) {
      gen = this.launch();
      this.current = gen;
    }
    gen.uses += 1;
    gen.active += 1;
    if (gen.uses >= this.opts.recycleAfter) gen.retired = true;
    return gen;
  }

  private checkin(gen: Generation): void {
    gen.active -= 1;
    if (gen.retired && gen.active === 0) {
      if (this.current === gen) this.current = undefined;
      void this.shutdown(gen);
    }
  }

  private launch(): Generation {
    this.generations += 1;
    const id = this.generations;
    const gone = new AbortController();
    const gen: Generation = { id, idle: [], uses: 0, active: 0, retired: false, gone: gone.signal, browser: Promise.resolve(undefined as unknown as Browser) };
    const started = Date.now();
    gen.browser = chromium
      // The worker's process owns the signals: on SIGTERM it drains, rendering the jobs in hand
      // on this browser, which Playwright would otherwise kill at once.
      .launch({ executablePath: this.opts.executablePath, headless: true, args: CHROMIUM_ARGS, timeout: 30_000, handleSIGTERM: false, handleSIGINT: false, handleSIGHUP: false })
      .then(async (browser) => {
        browser.on('disconnected', () => {
          if (!gen.retired) this.log.warn('browser disconnected', { generation: id });
          gen.retired = true;
          gone.abort(new BrowserGone(new Error('browser disconnected')));
        });
        gen.pid = await withTimeout(browserPid(browser), this.stepTimeoutMs, 'browser pid').catch(() => undefined);
        this.log.info('browser launched', { generation: id, pid: gen.pid, ms: Date.now() - started });
        return browser;
      });
    gen.browser.catch(() => (gen.retired = true));
    return gen;
  }

  private async shutdown(gen: Generation): Promise<void> {
    let browser: Browser;
    try {
      browser = await gen.browser;
    } catch {
      return; // Never launched: nothing to close.
    }
    if (!browser.isConnected()) return;
    try {
      // Playwright's close waits for the browser to exit, for ever if it hangs: a recycle would
      // leave its processes running, and the worker's stop would wait until the hard exit.
      await withTimeout(browser.close(), this.stepTimeoutMs, 'browser.close');
      this.log.info('browser closed', { generation: gen.id, documents: gen.uses });
    } catch (err) {
      if (!browser.isConnected()) return; // Died while closing.
      this.log.warn('browser did not close in time; killing it', { generation: gen.id, pid: gen.pid, err });
      if (gen.pid !== undefined) {
        try {
          process.kill(gen.pid, 'SIGKILL');
        } catch {
          // Gone since.
        }
      }
    }
  }
}

/** The pid of the browser process (CDP SystemInfo.getProcessInfo), or undefined when the browser does not say. */
async function browserPid(browser: Browser): Promise<number | undefined> {
  try {
    const cdp = await browser.newBrowserCDPSession();
    try {
      const info = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: Array<{ type: string; id: number }> };
      return info.processInfo.find((p) => p.type === 'browser')?.id;
    } finally {
      await cdp.detach().catch(() => undefined);
    }
  } catch {
    return undefined;
  }
}

/** `step`, or a TimeoutError (as Playwright's own, `<what>: Timeout <ms>ms exceeded`) once `ms` have passed. */
function withTimeout<T>(step: Promise<T>, ms: number, what: string): Promise<T> {
  return withinTime(step, ms, () => Object.assign(new Error(`${what}: Timeout ${ms}ms exceeded.`), { name: 'TimeoutError' }));
}

/**
 * `step`, or the reason of the first of `signals` to abort. Not a Promise.race against promises
 * that live as long as the browser or the tab: each race would leave a reaction on them holding
 * its settled result (a whole PDF) until the browser goes, 100 documents later; these listeners
 * are removed as soon as the step settles.
 */
function unlessAborted<T>(step: Promise<T>, ...signals: AbortSignal[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = function (this: AbortSignal): void {
      stop();
      reject(this.reason);
    };
    const stop = (): void => signals.forEach((s) => s.removeEventListener('abort', onAbort));
    const already = signals.find((s) => s.aborted);
    if (already) {
      step.catch(() => undefined);
      return reject(already.reason);
    }
    signals.forEach((s) => s.addEventListener('abort', onAbort, { once: true }));
    step.then(
      (value) => {
        stop();
        resolve(value);
      },
      (err: unknown) => {
        stop();
        reject(err);
      },
    );
  });
}

class BrowserGone extends Error {
  constructor(readonly cause: unknown) {
    super('browser is gone');
    this.name = 'BrowserGone';
  }
}
