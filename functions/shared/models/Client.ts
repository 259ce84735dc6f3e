import { Model } from 'objection';

export type ClientKind = 'b2c' | 'b2b';

export class Client extends Model {
  static tableName = 'clients';
  id!: string;
  kind!: ClientKind;
  name!: string;
  email!: string;
  api_key_prefix!: string | null;
  api_key_hash!: string | null;
  created_at!: Date;
}
