import { afterNextRender, Component, DestroyRef, ElementRef, inject, Injector, signal, viewChild } from '@angular/core';
import { api, errorMessage, idempotencyKey, isTransient, Schemas } from '../api/client';
import { ThemeList } from '../theme-list';
import { Poller } from '../poll';

const FINAL = new Set(['completed', 'failed']);

/**
 * B2B: a CSV of rows for one theme (a header line naming the theme's fields), sent with the
 * client's API key, then the batch followed until it is completed. The key stays in this page's
 * memory only.
 */
@Component({
  selector: 'app-batch',
  template: `
    <h1>B2B batch</h1>
    <form novalidate (submit)="submit($event)">
      <label>API key <input name="apiKey" type="password" autocomplete="off" /></label>
      <label>
        Theme
        <select name="theme">
          @for (theme of list.themes() ?? []; track theme.slug) {
            <option [value]="theme.slug">{{ theme.title }} (columns: {{ theme.fields.join(', ') }})</option>
          }
        </select>
      </label>
      @if (list.error()) {
        <p class="error" role="alert">{{ list.error() }}</p>
        <button type="button" (click)="list.retry()">Load the themes again</button>
      }
      <label>CSV file <input name="csv" type="file" accept=".csv,text/csv" /></label>
      @if (error()) {
        <p #errorMessage class="error" role="alert" tabindex="-1">{{ error() }}</p>
      }
      <button type="submit" [disabled]="sending()">Upload</button>
    </form>
    @if (batch(); as batch) {
      <dl>
        <dt>Batch</dt>
        <dd>{{ batch.id }}</dd>
        <dt>Status</dt>
        <dd><span class="status {{ batch.status }}" role="status" data-test="batch-status">{{ batch.status }}</span></dd>
        <dt>Rows</dt>
        <dd data-test="batch-rows">{{ batch.succeeded }} succeeded, {{ batch.failed }} failed of {{ batch.totalRows }}</dd>
        @if (batch.manifest) {
          <dt>Manifest</dt>
          <dd><a [href]="batch.manifest.url">manifest.json</a></dd>
        }
      </dl>
    }
  `,
})
export class BatchPage {
  readonly list = new ThemeList();
  readonly batch = signal<Schemas['Batch'] | undefined>(undefined);
  readonly error = signal<string | undefined>(undefined);
  readonly sending = signal(false);
  /** One loop per page: a batch sent again stops following the one before. */
  private readonly poller = new Poller(inject(DestroyRef));
  private readonly errorMessage = viewChild<ElementRef<HTMLElement>>('errorMessage');
  private readonly injector = inject(Injector);

  async submit(event: Event): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const apiKey = String(form.get('apiKey') ?? '');
    const file = form.get('csv');
    const csv = file instanceof File ? await file.text() : '';
    this.poller.stop();
    this.batch.set(undefined);
    this.error.set(undefined);
    this.sending.set(true);
    try {
      const { data, error, response } = await api.POST('/b2b/batches', {
        params: { query: { theme: String(form.get('theme') ?? '') }, header: { 'idempotency-key': idempotencyKey() } },
        body: csv,
        // As is: the client would JSON-encode any body.
        bodySerializer: (body) => body,
        headers: { 'content-type': 'text/csv', 'x-api-key': apiKey },
      });
      if (!data) return this.refused(errorMessage(error, response.status));
      this.batch.set(data.batch);
      this.follow(apiKey, data.batch.id);
    } catch {
      this.refused('The API could not be reached; try again.');
    } finally {
      this.sending.set(false);
    }
  }

  /**
   * The upload button had the focus and is disabled while the batch is sent, which drops it to the
   * page: it goes to the message once drawn, which names the key, the theme or the CSV row at fault.
   */
  private refused(message: string): void {
    this.error.set(message);
    afterNextRender(() => this.errorMessage()?.nativeElement.focus(), { injector: this.injector });
  }

  private follow(apiKey: string, id: string): void {
    this.poller.start({
      read: (signal) => api.GET('/b2b/batches/{id}', { params: { path: { id } }, headers: { 'x-api-key': apiKey }, signal }),
      apply: ({ data, error, response }) => {
        if (!data) {
          const transient = isTransient(response.status);
          this.error.set(`${errorMessage(error, response.status)}${transient ? ' Trying again…' : ''}`);
          return !transient;
        }
        this.error.set(undefined);
        this.batch.set(data.batch);
        return FINAL.has(data.batch.status);
      },
      unreachable: () => this.error.set('The API could not be reached; trying again…'),
    });
  }
}
