// Independent check of 3D Tiles tiles: parse each with loaders.gl's Tiles3DLoader
// (vis.gl) and validate the GLB of each b3dm with the Khronos glTF-Validator.
// Usage: node check_tiles.mjs FILE...   -> prints one JSON array on stdout.
import fs from 'node:fs';
import {parse} from '@loaders.gl/core';
import {Tiles3DLoader} from '@loaders.gl/3d-tiles';
import validator from 'gltf-validator';

const out = [];
for (const f of process.argv.slice(2)) {
  const buf = fs.readFileSync(f);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const rec = {file: f};
  try {
    const tile = await parse(ab, Tiles3DLoader, {'3d-tiles': {loadGLTF: false}});
    Object.assign(rec, {type: tile.type, version: tile.version, byteLength: tile.byteLength,
                        featureTable: tile.featureTableJson});
    if (tile.type === 'b3dm') {
      const glb = new Uint8Array(tile.gltfArrayBuffer, tile.gltfByteOffset, tile.gltfByteLength);
      const report = await validator.validateBytes(glb);
      rec.errors = report.issues.numErrors;
      rec.issues = report.issues.messages.filter(m => m.severity <= 1).map(m => m.code);
      rec.triangles = report.info.totalTriangleCount;
      rec.textures = report.info.hasTextures;
    }
  } catch (e) {
    rec.exception = String(e);
  }
  out.push(rec);
}
console.log(JSON.stringify(out));
