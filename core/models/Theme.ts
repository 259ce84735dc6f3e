export type OutputFormat = 'pdf' | 'docx' | 'html';

/** A row of `themes` as pg returns it. */
export interface Theme {
  id: string;
  slug: string;
  title: string;
  prompt_template: string;
  output_format: OutputFormat;
  price_cents: number;
  active: boolean;
  created_at: Date;
}
