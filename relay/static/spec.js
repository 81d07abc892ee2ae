// spec.js: the relay's OpenAPI document, read once after the first lists are shown
// (it is large; nothing on screen waits for it). It names every event type (the
// EventType schema) and tells which optional routes this relay serves (search, acks).

import { api } from "./api.js";

let paths = null;
let types = [];
const waiting = [];

const anyParam = (path) => path.replace(/\{[^}]*\}/g, "{}");

export async function readSpec() {
  try {
    const spec = await api("GET", "/api/spec");
    paths = new Set(Object.entries(spec.paths || {}).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${anyParam(path)}`)));
    types = spec.components?.schemas?.EventType?.enum || [];
  } catch {
    paths = new Set();         // unread: optional features stay off, the rest works
  }
  for (const listener of waiting.splice(0)) listener();
}

export const serves = (method, path) => !!paths && paths.has(`${method} ${anyParam(path)}`);
export const eventTypes = () => types;
export const specRead = () => paths !== null;
export function onSpec(listener) {
  if (paths) listener(); else waiting.push(listener);
}
