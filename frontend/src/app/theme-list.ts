import { signal } from '@angular/core';
import { api, errorMessage, Schemas } from './api/client';

/**
 * The theme list a page shows (`GET /b2c/themes`), loaded when the page is made and again on
 * `retry()`. A failure is one line for the user: the API's error, or that the API could not be
 * reached at all (fetch rejects then, and the page would otherwise say "Loading…" for ever).
 */
export class ThemeList {
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
    try {
      const { data, error, response } = await api.GET('/b2c/themes');
      if (data) this.themes.set(data.themes);
      else this.error.set(errorMessage(error, response.status));
    } catch {
      this.error.set('The API could not be reached.');
    }
  }
}
