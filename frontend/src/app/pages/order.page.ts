import { Component, DestroyRef, inject, input, OnInit, signal } from '@angular/core';
import { api, errorMessage, isTransient, Schemas } from '../api/client';
import { keptOrder } from '../order-tokens';
import { Poller } from '../poll';

const FINAL = new Set(['ready', 'failed']);

/**
 * One order, followed until its document is ready: the Checkout link while it is pending, the
 * status as it moves on, the download once ready. Stripe sends the buyer back here
 * (`?paid=1` or `?cancelled=1`), and a reload or a bookmark of this page works as long as the
 * browser kept the order's access token.
 */
@Component({
  selector: 'app-order',
  template: `
    <h1>Your order</h1>
    @if (!kept) {
      <p class="error" role="alert">This browser does not hold the access token of order {{ id() }}: open it from the browser it was placed in.</p>
    } @else {
      @if (paid() && order()?.status === 'pending') {
        <p>Payment sent; waiting for Stripe's confirmation…</p>
      }
      @if (cancelled() && order()?.status === 'pending') {
        <p>Payment cancelled: you can pay again below.</p>
      }
      @if (order(); as order) {
        <dl>
          <dt>Order</dt>
          <dd>{{ order.id }}</dd>
          <dt>Document</dt>
          <dd>{{ order.theme.title ?? order.theme.slug }}</dd>
          <dt>Status</dt>
          <dd><span class="status {{ order.status }}" role="status" data-test="status">{{ order.status }}</span></dd>
        </dl>
        @if (order.status === 'pending' && kept.checkoutUrl) {
          <p><a class="button" [href]="kept.checkoutUrl">Pay with Stripe</a></p>
        }
        @if (order.status === 'ready') {
          <p><button type="button" (click)="download()">Download the document</button></p>
        }
        @if (order.status === 'failed') {
          <p class="error" role="alert">{{ order.error ?? 'The document could not be produced.' }}</p>
        }
      }
      @if (error()) {
        <p class="error" role="alert">{{ error() }}</p>
      }
    }
  `,
})
export class OrderPage implements OnInit {
  readonly id = input.required<string>();
  readonly paid = input<string>();
  readonly cancelled = input<string>();
  readonly order = signal<Schemas['Order'] | undefined>(undefined);
  readonly error = signal<string | undefined>(undefined);
  kept: ReturnType<typeof keptOrder>;
  private readonly poller = new Poller(inject(DestroyRef));

  /**
   * Opens the document's presigned link, read afresh (it lives a minute or so) with the token in a
   * request rather than in a page address: a link to the document route (`…/document?token=`)
   * was a navigation, so the token went into the browser's history (and its downloads list).
   */
  async download(): Promise<void> {
    const token = this.kept?.accessToken ?? '';
    try {
      const { data, error, response } = await api.GET('/b2c/orders/{id}', { params: { path: { id: this.id() }, query: { token } } });
      if (!data) return this.error.set(errorMessage(error, response.status));
      // A ready order without a link: the API says why in its error (the document is no longer stored).
      if (!data.order.document) return this.error.set(data.order.error ?? `The document is not ready (the order is ${data.order.status}).`);
      this.error.set(undefined);
      window.location.assign(data.order.document.url);
    } catch {
      this.error.set('The API could not be reached; try again.');
    }
  }

  ngOnInit(): void {
    this.kept = keptOrder(this.id());
    if (!this.kept) return;
    const token = this.kept.accessToken;
    this.poller.start({
      read: (signal) => api.GET('/b2c/orders/{id}', { params: { path: { id: this.id() }, query: { token } }, signal }),
      apply: ({ data, error, response }) => {
        if (!data) {
          const transient = isTransient(response.status);
          this.error.set(`${errorMessage(error, response.status)}${transient ? ' Trying again…' : ''}`);
          return !transient;
        }
        this.error.set(undefined);
        this.order.set(data.order);
        return FINAL.has(data.order.status);
      },
      unreachable: () => this.error.set('The API could not be reached; trying again…'),
    });
  }
}
