import { Routes } from '@angular/router';
import { ThemesPage } from './pages/themes.page';
import { OrderFormPage } from './pages/order-form.page';
import { OrderPage } from './pages/order.page';
import { BatchPage } from './pages/batch.page';

/** `/orders/:id` is also where Stripe Checkout sends the buyer back (success_url, cancel_url of gateway-b2c). */
export const routes: Routes = [
  { path: '', component: ThemesPage, title: 'Themes · docplatform' },
  { path: 'order/:slug', component: OrderFormPage, title: 'Order · docplatform' },
  { path: 'orders/:id', component: OrderPage, title: 'Your order · docplatform' },
  { path: 'b2b', component: BatchPage, title: 'B2B batch · docplatform' },
  { path: '**', redirectTo: '' },
];
