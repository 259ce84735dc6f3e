import { Component, computed, inject, input, signal } from '@angular/core';
import { CurrencyPipe } from '@angular/common';
import { Router } from '@angular/router';
import { api, errorMessage, idempotencyKey, Schemas } from '../api/client';
import { keepOrder } from '../order-tokens';

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
        <label>Your name <input name="name" autocomplete="name" /></label>
        <label>Email <input name="email" type="email" autocomplete="email" /></label>
        @for (field of theme.fields; track field) {
          <label>{{ field }} <input [name]="'input.' + field" /></label>
        }
        @if (error()) {
          <p class="error" role="alert">{{ error() }}</p>
        }
        <button type="submit" [disabled]="sending()">Order and pay</button>
      </form>
    } @else if (error()) {
      <p class="error" role="alert">{{ error() }}</p>
    } @else {
      <p>Loading…</p>
    }
  `,
})
export class OrderFormPage {
  readonly slug = input.required<string>();
  private readonly themes = signal<Schemas['Theme'][] | undefined>(undefined);
  readonly theme = computed(() => this.themes()?.find((t) => t.slug === this.slug()));
  readonly error = signal<string | undefined>(undefined);
  readonly sending = signal(false);
  private readonly router = inject(Router);
  /** One key per visit of the form: a double click or a retry after a network error is the same order. */
  private readonly key = idempotencyKey();

  constructor() {
    void this.load();
  }

  private async load(): Promise<void> {
    const { data, error, response } = await api.GET('/b2c/themes');
    if (!data) return this.error.set(errorMessage(error, response.status));
    this.themes.set(data.themes);
    if (!this.theme()) this.error.set(`There is no theme "${this.slug()}".`);
  }

  async submit(event: Event, theme: string): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const text = (name: string) => String(form.get(name) ?? '');
    const input = Object.fromEntries([...form.keys()].filter((k) => k.startsWith('input.')).map((k) => [k.slice('input.'.length), text(k)]));
    this.sending.set(true);
    this.error.set(undefined);
    try {
      const { data, error, response } = await api.POST('/b2c/orders', {
        params: { header: { 'idempotency-key': this.key } },
        body: { name: text('name'), email: text('email'), theme, input },
      });
      if (!data) return this.error.set(errorMessage(error, response.status));
      keepOrder(data.order.id, { accessToken: data.accessToken, checkoutUrl: data.checkoutUrl ?? null });
      await this.router.navigate(['/orders', data.order.id]);
    } catch {
      this.error.set('The API could not be reached; try again.');
    } finally {
      this.sending.set(false);
    }
  }
}
