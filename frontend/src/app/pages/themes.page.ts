import { Component, signal } from '@angular/core';
import { CurrencyPipe } from '@angular/common';
import { RouterLink } from '@angular/router';
import { fetchThemes, Schemas } from '../api/client';

@Component({
  selector: 'app-themes',
  imports: [RouterLink, CurrencyPipe],
  template: `
    <h1>Order a document</h1>
    @if (error()) {
      <p class="error" role="alert">{{ error() }}</p>
      <button type="button" (click)="retry()">Try again</button>
    }
    @if (themes(); as themes) {
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
    } @else if (!error()) {
      <p>Loading themes…</p>
    }
  `,
})
export class ThemesPage {
  readonly themes = signal<Schemas['Theme'][] | undefined>(undefined);
  readonly error = signal<string | undefined>(undefined);

  constructor() {
    void this.load();
  }

  retry(): void {
    this.error.set(undefined);
    void this.load();
  }

  private async load(): Promise<void> {
    const answer = await fetchThemes();
    if ('themes' in answer) this.themes.set(answer.themes);
    else this.error.set(answer.error);
  }
}
