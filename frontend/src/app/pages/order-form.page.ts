import { afterNextRender, Component, computed, inject, Injector, input, signal } from '@angular/core';
import { CurrencyPipe } from '@angular/common';
import { Router } from '@angular/router';
import { api, errorMessage, idempotencyKey } from '../api/client';
import { ThemeList } from '../theme-list';

const ERROR_ID = 'order-error';
import { keepOrder, KeptOrder } from '../order-tokens';

/**
 * The order form of one theme: the buyer's name and email and the theme's own fields. The form
 * has `novalidate`: the API checks every field and its 400 names the bad ones, which is what the
 * page shows, so the browser's own checks would only say the same thing twice.
 */
@Component({
  selector: 'app-order-form',
  imports: [CurrencyPipe],
  template: `
    @if (theme(); as theme) {
      <h1>{{ theme.title }}</h1>
      <p>{{ theme.outputFormat.toUpperCase() }} · {{ theme.priceCents / 100 | currency: theme.currency.toUpperCase() }}</p>
      <form novalidate (submit)="submit($event, theme.slug)">
        <label>Your name <input name="name" autocomplete="name" [attr.aria-invalid]="invalidMark('name')" [attr.aria-describedby]="describedBy('name')" /></label>
        <label>Email <input name="email" type="email" autocomplete="email" [attr.aria-invalid]="invalidMark('email')" [attr.aria-describedby]="describedBy('email')" /></label>
        @for (field of theme.fields; track field) {
          <label>{{ field }} <input [name]="'input.' + field" [attr.aria-invalid]="invalidMark('input.' + field)" [attr.aria-describedby]="describedBy('input.' + field)" /></label>
        }
        @if (error()) {
          <p class="error" role="alert" [id]="errorId" tabindex="-1">{{ error() }}</p>
        }
        <button type="submit" [disabled]="sending()">Order and pay</button>
      </form>
    } @else if (list.error()) {
      <p class="error" role="alert">{{ list.error() }}</p>
      <button type="button" (click)="list.retry()">Try again</button>
    } @else if (list.themes()) {
      <p class="error" role="alert">There is no theme "{{ slug() }}".</p>
    } @else {
      <p>Loading…</p>
    }
  `,
})
export class OrderFormPage {
  readonly slug = input.required<string>();
  readonly list = new ThemeList();
  readonly theme = computed(() => this.list.themes()?.find((t) => t.slug === this.slug()));
  readonly error = signal<string | undefined>(undefined);
  readonly sending = signal(false);
  readonly errorId = ERROR_ID;
  /** The inputs (by `name`) the API's last answer named: `body.email` is `email`, `body.input.topic` is `input.topic`. */
  private readonly invalid = signal<ReadonlySet<string>>(new Set());
  private readonly router = inject(Router);
  private readonly injector = inject(Injector);
  /**
   * The key of the order being placed: a double click, or a retry after a network error or a 5xx
   * (the order may exist), is the same order. A 4xx is a request the API did not take, and a body
   * the user edited since the last press is another order (the API answers a key sent with another
   * body 409): either way the next press is a new request under a new key.
   */
  private key = idempotencyKey();
  /** The body last sent under `key`, undefined once a 4xx freed it. */
  private keyBody: string | undefined;

  invalidMark(name: string): 'true' | null {
    return this.invalid().has(name) ? 'true' : null;
  }

  describedBy(name: string): string | null {
    return this.invalid().has(name) ? ERROR_ID : null;
  }

  async submit(event: Event, theme: string): Promise<void> {
    event.preventDefault();
    const element = event.target as HTMLFormElement;
    const form = new FormData(element);
    const text = (name: string) => String(form.get(name) ?? '');
    const input = Object.fromEntries([...form.keys()].filter((k) => k.startsWith('input.')).map((k) => [k.slice('input.'.length), text(k)]));
    this.sending.set(true);
    this.error.set(undefined);
    this.invalid.set(new Set());
    const body = { name: text('name'), email: text('email'), theme, input };
    const sent = JSON.stringify(body);
    if (this.keyBody !== undefined && this.keyBody !== sent) this.key = idempotencyKey();
    this.keyBody = sent;
    try {
      const { data, error, response } = await api.POST('/b2c/orders', { params: { header: { 'idempotency-key': this.key } }, body });
      if (!data) {
        if (response.status < 500) [this.key, this.keyBody] = [idempotencyKey(), undefined];
        return this.refused(element, error, response.status);
      }
      if (!this.kept(data.order.id, { accessToken: data.accessToken, checkoutUrl: data.checkoutUrl ?? null })) return this.focusAfterRender(element, undefined);
      await this.router.navigate(['/orders', data.order.id]);
    } catch {
      this.error.set('The API could not be reached; try again.');
      this.focusAfterRender(element, undefined);
    } finally {
      this.sending.set(false);
    }
  }

  /**
   * Keeps the order's token for its page. A browser that blocks site data throws on localStorage:
   * the order exists by then, and the same key answers it again with its token once allowed.
   */
  private kept(orderId: string, order: KeptOrder): boolean {
    try {
      keepOrder(orderId, order);
      return true;
    } catch {
      this.error.set(
        `Order ${orderId} is placed, but this browser does not let the page keep its access token (site data is blocked for this site), without which it cannot be paid or followed: allow site data, then press the button again (the same order is answered).`,
      );
      return false;
    }
  }

  /** Shows the API's refusal, marks the inputs it named, and puts the focus on the first of them. */
  private refused(form: HTMLFormElement, body: unknown, status: number): void {
    this.error.set(errorMessage(body, status));
    const named = ((body as { error?: { fields?: { field: string }[] } } | undefined)?.error?.fields ?? []).map((f) => f.field.replace(/^body\./, ''));
    const inputs = named.filter((name) => form.elements.namedItem(name) instanceof HTMLInputElement);
    this.invalid.set(new Set(inputs));
    this.focusAfterRender(form, inputs[0]);
  }

  /**
   * The submit button had the focus and is disabled while the order is sent, which drops it to the
   * page: it goes to the bad input, or to the message when no input is named, once they are drawn.
   */
  private focusAfterRender(form: HTMLFormElement, input: string | undefined): void {
    afterNextRender(
      () => {
        const target = input ? form.elements.namedItem(input) : form.ownerDocument.getElementById(ERROR_ID);
        if (target instanceof HTMLElement) target.focus();
      },
      { injector: this.injector },
    );
  }
}
