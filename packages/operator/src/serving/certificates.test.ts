import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { createLogger, startHttpServer } from "@ebpf-operator/core";
import { describe, expect, it } from "vitest";
import { certificateFacts, createCa, issueServingCertificate, keyMatches, signedBy, splitBundle } from "./certificates.js";
import { bearerToken, jwtExpiry } from "./kube-access.js";
import { ServingCertificate } from "./serving-certificate.js";

const now = new Date();
const logger = createLogger({ level: "silent" });

/** The certificate a TLS client sees at `port`, verified against `ca` for `servername`. */
function served(port: number, ca: string, servername: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, servername }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.end();
      if (raw) resolve(raw);
      else reject(new Error("no peer certificate"));
    });
    socket.on("error", reject);
  });
}

describe("serving certificates", () => {
  it("make a CA and serving certificates it signs, for the names asked, that Node's TLS verifies", async () => {
    const ca = await createCa("test-ca", now, 3600_000);
    const leaf = await issueServingCertificate(ca, ["agent.ns.svc", "agent.ns.svc.cluster.local"], now, 600_000);
    expect(keyMatches(leaf)).toBe(true);
    expect(signedBy(leaf.cert, ca.cert)).toBe(true);
    const other = await createCa("other-ca", now, 3600_000);
    expect(signedBy(leaf.cert, other.cert)).toBe(false);
    expect(keyMatches({ cert: leaf.cert, key: other.key })).toBe(false);
    const facts = certificateFacts(leaf.cert);
    expect(facts.dnsNames).toEqual(["agent.ns.svc", "agent.ns.svc.cluster.local"]);
    expect(facts.notAfter.getTime() - now.getTime()).toBeLessThanOrEqual(600_000);
    expect(new X509Certificate(ca.cert).ca).toBe(true);
    expect(new X509Certificate(leaf.cert).ca).toBe(false);
    expect(splitBundle(ca.cert + other.cert)).toEqual([ca.cert, other.cert]);

    const server = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      { metrics: () => Promise.reject(new Error("unused")), ready: () => true, tls: leaf, logger },
    );
    try {
      const port = Number(new URL(server.url).port);
      expect((await served(port, ca.cert, "agent.ns.svc")).fingerprint256).toBe(new X509Certificate(leaf.cert).fingerprint256);
      await expect(served(port, ca.cert, "bob.ns.svc")).rejects.toThrow(/altnames|Hostname/i);
      await expect(served(port, other.cert, "agent.ns.svc")).rejects.toThrow(/certificate/i);
      // Rotation: the next connection gets the new certificate, without a restart.
      const rotated = await issueServingCertificate(ca, ["agent.ns.svc"], now, 600_000);
      server.setCertificate(rotated);
      expect((await served(port, ca.cert, "agent.ns.svc")).fingerprint256).toBe(new X509Certificate(rotated.cert).fingerprint256);
    } finally {
      await server.close();
    }
  });

  it("serve a self-signed stand-in until the files exist, then the files, and refuse a key that does not belong", async () => {
    const dir = mkdtempSync(join(tmpdir(), "eop-serving-"));
    try {
      const certFile = join(dir, "tls.crt");
      const keyFile = join(dir, "tls.key");
      const serving = await ServingCertificate.start({ certFile, keyFile, dnsNames: ["localhost"], logger, intervalMs: 3600_000 });
      const changes: string[] = [];
      serving.onChange((tls) => changes.push(String(tls.cert)));
      const standIn = serving.current.cert;
      expect(certificateFacts(String(standIn)).dnsNames).toEqual(["localhost"]);
      expect(await serving.reload()).toBe(false);
      const ca = await createCa("test-ca", now, 3600_000);
      const leaf = await issueServingCertificate(ca, ["agent.ns.svc"], now, 600_000);
      writeFileSync(certFile, leaf.cert);
      writeFileSync(keyFile, leaf.key);
      expect(await serving.reload()).toBe(true);
      expect(serving.current.cert).toBe(leaf.cert);
      expect(changes).toEqual([leaf.cert]);
      const other = await issueServingCertificate(ca, ["agent.ns.svc"], now, 600_000);
      writeFileSync(certFile, other.cert); // key not updated yet: a mismatched pair
      expect(await serving.reload()).toBe(false);
      expect(serving.current.cert).toBe(leaf.cert);
      writeFileSync(keyFile, other.key);
      expect(await serving.reload()).toBe(true);
      expect(serving.current.cert).toBe(other.cert);
      serving.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bearer tokens", () => {
  it("are taken only from a well-formed Bearer header of bounded size", () => {
    expect(bearerToken("Bearer abc.def.ghi")).toBe("abc.def.ghi");
    expect(bearerToken("bearer abc")).toBe("abc");
    for (const header of [undefined, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Bearer a b", "Bearer é", `Bearer ${"a".repeat(17_000)}`]) {
      expect(bearerToken(header), String(header).slice(0, 20)).toBeUndefined();
    }
  });

  it("give their JWT expiry, or nothing for other shapes", () => {
    const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.sig`;
    expect(jwtExpiry(jwt({ exp: 1700000000 }))).toBe(1700000000_000);
    expect(jwtExpiry(jwt({ sub: "x" }))).toBeUndefined();
    expect(jwtExpiry(jwt({ exp: "soon" }))).toBeUndefined();
    expect(jwtExpiry("opaque-static-token")).toBeUndefined();
    expect(jwtExpiry("a.!!!.c")).toBeUndefined();
  });
});
