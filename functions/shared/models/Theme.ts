import { Model } from 'objection';

export type OutputFormat = 'pdf' | 'docx' | 'html';

export class Theme extends Model {
  static tableName = 'themes';
  id!: string;
  slug!: string;
  title!: string;
  prompt_template!: string;
  output_format!: OutputFormat;
  price_cents!: number;
  active!: boolean;
  created_at!: Date;
}
