declare module 'autocannon' {
  namespace autocannon {
    interface Client {
      on(event: 'response', listener: () => void): void;
      setHeaders(headers: Record<string, string>): void;
    }
    interface Options {
      url: string;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      connections?: number;
      duration?: number;
      setupClient?: (client: Client) => void;
    }
    interface Result {
      latency: { p50: number; p99: number };
      requests: { average: number };
      non2xx: number;
      errors: number;
    }
  }
  function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
  export = autocannon;
}
