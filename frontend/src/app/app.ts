import { Component } from '@angular/core';
import { RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';

@Component({
  selector: 'app-root',
  imports: [RouterOutlet, RouterLink, RouterLinkActive],
  template: `
    <header>
      <strong><a routerLink="/">docplatform</a></strong>
      <a routerLink="/" routerLinkActive="active" [routerLinkActiveOptions]="{ exact: true }">Themes</a>
      <a routerLink="/b2b" routerLinkActive="active">B2B batch</a>
    </header>
    <main><router-outlet /></main>
  `,
})
export class App {}
