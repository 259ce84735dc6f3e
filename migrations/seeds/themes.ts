/** Themes every environment starts with: at least one per output format. */
export interface ThemeSeed {
  slug: string;
  title: string;
  prompt_template: string;
  output_format: 'pdf' | 'docx' | 'html';
  price_cents: number;
}

export const themeSeeds: ThemeSeed[] = [
  {
    slug: 'business-plan',
    title: 'Business plan',
    prompt_template:
      'Write a concise business plan in Markdown for the company "{{company}}" in the {{sector}} sector. Include an executive summary, market, offer, go-to-market, and a 3-year financial outline.',
    output_format: 'pdf',
    price_cents: 1900,
  },
  {
    slug: 'cover-letter',
    title: 'Cover letter',
    prompt_template:
      'Write a one-page cover letter in Markdown from {{name}} applying for the position of {{position}} at {{company}}. Professional tone, three paragraphs.',
    output_format: 'docx',
    price_cents: 900,
  },
  {
    slug: 'product-sheet',
    title: 'Product sheet',
    prompt_template:
      'Write a product sheet in Markdown for the product "{{product}}": a headline, five key benefits, technical details and a call to action.',
    output_format: 'html',
    price_cents: 700,
  },
  {
    slug: 'market-study',
    title: 'Market study',
    prompt_template:
      'Write a short market study in Markdown about {{topic}} in {{country}}: size, trends, competitors, risks and opportunities.',
    output_format: 'pdf',
    price_cents: 2900,
  },
];
