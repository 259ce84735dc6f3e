/**
 * What the browser keeps of each order it placed: the access token that status and document
 * answer to, and the Checkout link. The API returns the token once, with the order; Stripe's
 * success and cancel URLs carry only the order id, so the token has to survive that round trip
 * (and a reload) here.
 */
export interface KeptOrder {
  accessToken: string;
  checkoutUrl: string | null;
}

const keyOf = (orderId: string) => `docplatform.order.${orderId}`;

export function keepOrder(orderId: string, kept: KeptOrder): void {
  localStorage.setItem(keyOf(orderId), JSON.stringify(kept));
}

/** The kept order, or undefined when there is none or the browser refuses to read site data (localStorage throws then). */
export function keptOrder(orderId: string): KeptOrder | undefined {
  try {
    const raw = localStorage.getItem(keyOf(orderId));
    return raw ? (JSON.parse(raw) as KeptOrder) : undefined;
  } catch {
    return undefined;
  }
}
