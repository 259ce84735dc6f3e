/**
 * The HTML template of each theme: one print layout (A4, running footer with page numbers)
 * dressed per theme slug. The footer is a CSS page margin box, which Chromium prints (131 and
 * later) without Playwright's header and footer templates, so the page itself says it all. A theme without its own entry wears the default. Everything that
 * comes from data (title, client input, generated text) is escaped or has gone through
 * markdown-it with raw HTML disabled.
 */
export interface ThemeLook {
  accent: string;
  font: string;
  /** Short line under the title. */
  kicker: string;
}

const DEFAULT_LOOK: ThemeLook = { accent: '#1f4e79', font: "'DejaVu Serif', Georgia, serif", kicker: 'Report' };

export const THEME_LOOKS: Record<string, ThemeLook> = {
  'business-plan': { accent: '#0b5d3b', font: "'DejaVu Sans', Arial, sans-serif", kicker: 'Business plan' },
  'market-study': { accent: '#7a2e0e', font: "'DejaVu Serif', Georgia, serif", kicker: 'Market study' },
  'cover-letter': { accent: '#3b3b98', font: "'DejaVu Serif', Georgia, serif", kicker: 'Letter' },
};

export const lookFor = (slug: string): ThemeLook => THEME_LOOKS[slug] ?? DEFAULT_LOOK;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export interface ReportPage {
  themeSlug: string;
  themeTitle: string;
  orderId: string;
  /** Trusted HTML: markdown-it's output for the generated Markdown. */
  bodyHtml: string;
  generatedAt: Date;
}

export function reportHtml(page: ReportPage): string {
  const look = lookFor(page.themeSlug);
  const title = escapeHtml(page.themeTitle);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${title}</title>
<style>
  @page {
    size: A4; margin: 22mm 20mm 24mm 20mm;
    @bottom-center { content: counter(page) " / " counter(pages); font-size: 8.5pt; color: #666; }
  }
  html { font-family: ${look.font}; font-size: 11pt; line-height: 1.5; color: #222; }
  header { border-bottom: 3px solid ${look.accent}; margin-bottom: 14mm; padding-bottom: 4mm; }
  header .kicker { text-transform: uppercase; letter-spacing: .12em; font-size: 9pt; color: ${look.accent}; }
  header h1 { margin: 2mm 0 0; font-size: 24pt; color: ${look.accent}; }
  header .meta { font-size: 8.5pt; color: #666; margin-top: 2mm; }
  main h1, main h2 { color: ${look.accent}; break-after: avoid; }
  main h1 { font-size: 16pt; } main h2 { font-size: 13pt; }
  main p, main li { orphans: 3; widows: 3; text-align: justify; }
  main table { border-collapse: collapse; width: 100%; }
  main th, main td { border: 1px solid #ccc; padding: 2mm; }
  main blockquote { border-left: 3px solid ${look.accent}; margin-left: 0; padding-left: 4mm; color: #444; }
</style>
</head>
<body>
<header>
  <div class="kicker">${escapeHtml(look.kicker)}</div>
  <h1>${title}</h1>
  <div class="meta">Order ${escapeHtml(page.orderId)} · ${page.generatedAt.toISOString().slice(0, 10)}</div>
</header>
<main>
${page.bodyHtml}
</main>
</body>
</html>
`;
}
