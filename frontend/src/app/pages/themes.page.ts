import { Component } from '@angular/core';
import { CurrencyPipe } from '@angular/common';
import { RouterLink } from '@angular/router';
import { ThemeList } from '../theme-list';

@Component({
  selector: 'app-themes',
  imports: [RouterLink, CurrencyPipe],
  template: `
    <h1>Order a document</h1>
    @if (list.error()) {
      <p class="error" role="alert">{{ list.error() }}</p>
      <button type="button" (click)="list.retry()">Try again</button>
    }
    @if (list.themes(); as themes) {
      <ul class="themes">
        @for (theme of themes; track theme.slug) {
          <li [attr.data-theme]="theme.slug">
            <span>
              <strong>{{ theme.title }}</strong> · {{ theme.outputFormat.toUpperCase() }} ·
              {{ theme.priceCents / 100 | currency: theme.currency.toUpperCase() }}
            </span>
            <a class="button" [routerLink]="['/order', theme.slug]">Order</a>
          </li>
        }
      </ul>
    } @else if (!list.error()) {
      <p>Loading themes…</p>
    }
  `,
})
export class ThemesPage {
  readonly list = new ThemeList();
}
