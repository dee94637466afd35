/** The chunk store of a project store: its keys, codec, pack writer and reader over the catalog. */
import type { Catalog } from '../store/catalog.js';
import { ChunkCodec } from './codec.js';
import { chunkKeys, type ChunkKeys } from './keys.js';
import { ChunkReader, PackWriter } from './pack.js';

export class ChunkStore {
  readonly keys: ChunkKeys;
  readonly codec: ChunkCodec;

  constructor(
    readonly catalog: Catalog,
    rootSecret: Buffer,
    readonly packsDir: string,
    readonly tmpDir: string,
  ) {
    this.keys = chunkKeys(rootSecret);
    this.codec = new ChunkCodec(this.keys);
  }

  has(id: Buffer): boolean {
    return this.catalog.chunkRow(id) !== undefined;
  }

  writer(beforeAdopt?: (pack: string) => void): PackWriter {
    return new PackWriter(this.codec, this.tmpDir, this.packsDir, beforeAdopt);
  }

  reader(): ChunkReader {
    return new ChunkReader(this.codec, this.packsDir, (id) => this.catalog.chunkRow(id));
  }
}
