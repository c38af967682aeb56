/**
 * X.509 for the serving certificates: a CA, serving certificates it signs, and a throw-away
 * self-signed certificate for the time before the real one is there. ECDSA P-256 (fast to make,
 * accepted by Go's and Node's TLS and by Prometheus). `@peculiar/x509` builds the certificates
 * (Node's crypto can parse and verify certificates but not create them); Node's own
 * `X509Certificate` reads them.
 */
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from "node:crypto";
// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

/** The key types @peculiar/x509 declares (the DOM's, which Node's webcrypto implements). */
type X509Keys = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"];
type X509Key = X509Keys["privateKey"];

async function newKeys(): Promise<X509Keys> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as unknown as X509Keys;
}

async function keyPem(key: X509Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key as unknown as webcrypto.CryptoKey));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<X509Key> {
  const der = createPrivateKey(pem).export({ type: "pkcs8", format: "der" });
  return (await webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"])) as unknown as X509Key;
}

/** 16 random bytes, positive (the top bit clear), as RFC 5280 wants serial numbers. */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

/** A CA certificate valid from `now` (minus a minute of clock skew) for `lifetimeMs`. */
export async function createCa(commonName: string, now: Date, lifetimeMs: number): Promise<KeyPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + lifetimeMs),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem") + "\n", key: await keyPem(keys.privateKey) };
}

/** A serving certificate for `dnsNames` signed by `ca`; without a CA, self-signed. */
export async function issueServingCertificate(ca: KeyPair | undefined, dnsNames: readonly string[], now: Date, lifetimeMs: number): Promise<KeyPair> {
  const keys = await newKeys();
  const caCert = ca ? new x509.X509Certificate(ca.cert) : undefined;
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(dnsNames.map((value) => ({ type: "dns" as const, value }))),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ...(caCert ? [await x509.AuthorityKeyIdentifierExtension.create(caCert)] : []),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${dnsNames[0] ?? "ebpf-operator"}`,
    issuer: caCert ? caCert.subject : `CN=${dnsNames[0] ?? "ebpf-operator"}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + lifetimeMs),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca ? await importKey(ca.key) : keys.privateKey,
    extensions,
  });
  return { cert: cert.toString("pem") + "\n", key: await keyPem(keys.privateKey) };
}

/** What the manager needs to know about a certificate it finds. */
export interface CertificateFacts {
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
}

export function certificateFacts(pem: string): CertificateFacts {
  const cert = new X509Certificate(pem);
  const dnsNames = (cert.subjectAltName ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice(4));
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo), dnsNames };
}

/** Whether `cert` was signed by `ca` (signature checked, not only the names). */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** Whether `key` is the private key of `cert` (a Secret half-updated by hand would not be). */
export function keyMatches(pair: KeyPair): boolean {
  try {
    return new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key));
  } catch {
    return false;
  }
}

/** The certificates of a PEM bundle, each with its END line. */
export function splitBundle(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((c) => (c.endsWith("\n") ? c : `${c}\n`)) ?? [];
}
