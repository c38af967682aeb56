/**
 * The certificate a process serves HTTPS with, from files (a Secret volume: the operator's
 * self-managed Secret or cert-manager's), re-read every few seconds so that a rotated Secret is
 * served without a restart (the kubelet swaps a Secret volume's files atomically, which file
 * watches miss; polling does not). Until the files exist (an optional Secret volume before the
 * Secret is made) the process serves a throw-away self-signed certificate: the probes (which do
 * not verify) pass, and scrapers that verify against the published CA fail, as they should.
 * A pair that does not belong together (key of another certificate) is refused and logged; the
 * previous one keeps being served.
 */
import { readFile } from "node:fs/promises";
import { describeError, type Logger, type TlsCredentials } from "@ebpf-operator/core";
import { certificateFacts, issueServingCertificate, keyMatches, type KeyPair } from "./certificates.js";

export interface ServingCertificateOptions {
  /** PEM files; absent: self-signed for the whole run. */
  certFile?: string;
  keyFile?: string;
  /** Names of the self-signed stand-in. */
  dnsNames: readonly string[];
  logger: Logger;
  /** How often the files are read. Default 10 s. */
  intervalMs?: number;
}

export class ServingCertificate {
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((tls: TlsCredentials) => void)[] = [];
  private refused: string | undefined;

  private constructor(
    private readonly options: ServingCertificateOptions,
    private pair: KeyPair,
    /** Whether `pair` came from the files. */
    private fromFiles: boolean,
  ) {}

  static async start(options: ServingCertificateOptions): Promise<ServingCertificate> {
    const files = await readPair(options);
    const pair = files && keyMatches(files) ? files : await issueServingCertificate(undefined, options.dnsNames, new Date(), 365 * 24 * 3600_000);
    const serving = new ServingCertificate(options, pair, pair === files);
    serving.log();
    if (options.certFile && options.keyFile) {
      serving.timer = setInterval(() => void serving.reload(), options.intervalMs ?? 10_000);
      serving.timer.unref();
    }
    return serving;
  }

  get current(): TlsCredentials {
    return { cert: this.pair.cert, key: this.pair.key };
  }

  /** Called with every new certificate read from the files. */
  onChange(listener: (tls: TlsCredentials) => void): void {
    this.listeners.push(listener);
  }

  /** Reads the files now; returns whether a new certificate is served. */
  async reload(): Promise<boolean> {
    let files: KeyPair | undefined;
    try {
      files = await readPair(this.options);
    } catch (error) {
      this.options.logger.warn({ error: describeError(error) }, "reading the serving certificate failed; the previous one is served");
      return false;
    }
    if (!files || (files.cert === this.pair.cert && files.key === this.pair.key)) return false;
    if (!keyMatches(files)) {
      if (this.refused !== files.cert)
        this.options.logger.error({ certFile: this.options.certFile }, "the serving certificate and key do not belong together; the previous one is served");
      this.refused = files.cert;
      return false;
    }
    this.pair = files;
    this.fromFiles = true;
    this.log();
    for (const listener of this.listeners) listener(this.current);
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private log(): void {
    const facts = certificateFacts(this.pair.cert);
    if (this.fromFiles)
      this.options.logger.info(
        { certFile: this.options.certFile, notAfter: facts.notAfter.toISOString(), dnsNames: facts.dnsNames },
        "serving certificate loaded",
      );
    else
      this.options.logger.warn(
        { certFile: this.options.certFile ?? null },
        this.options.certFile
          ? "serving certificate files not there yet: serving a self-signed one until they are"
          : "no --tls-cert-file: serving a self-signed certificate",
      );
  }
}

async function readPair(options: ServingCertificateOptions): Promise<KeyPair | undefined> {
  if (!options.certFile || !options.keyFile) return undefined;
  try {
    const [cert, key] = await Promise.all([readFile(options.certFile, "utf8"), readFile(options.keyFile, "utf8")]);
    return { cert, key };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
