"""The reference embeddings, run by the reference venv's python (ci/embedding-reference-env.sh).

Hugging Face's own implementations, nothing from faq_engine: the `tokenizers` package reads the
shipped tokenizer.json (padding off, truncation at the model's max_length, as
sentence-transformers runs it), transformers' FlaxBertModel reads the shipped config and
safetensors weights, then mean pooling over the attention mask and L2 normalisation.

    python reference_encoder.py MODEL_DIR < texts.json > {"ids": [[...]], "embeddings": [[...]]}
"""

import json
import os
import sys
import tempfile

import numpy as np
from tokenizers import Tokenizer
from transformers import FlaxBertModel

BATCH = 16


def main() -> None:
    model_dir = sys.argv[1]
    manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
    max_length = manifest["encoder"]["max_length"]
    texts = json.load(sys.stdin)
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    with tempfile.TemporaryDirectory() as hf:
        # transformers wants its own file names: link the shipped files under them.
        os.symlink(os.path.join(model_dir, "encoder.config.json"), os.path.join(hf, "config.json"))
        os.symlink(os.path.join(model_dir, "encoder.safetensors"),
                   os.path.join(hf, "model.safetensors"))
        model = FlaxBertModel.from_pretrained(hf)
    encodings = [tok.encode(t) for t in texts]
    ids_out = [e.ids for e in encodings]
    emb_out = []
    # One shape for every call (JAX compiles once per shape): batches of BATCH rows padded to
    # max_length, the padding masked out of attention and pooling.
    for start in range(0, len(encodings), BATCH):
        chunk = encodings[start:start + BATCH]
        ids = np.zeros((BATCH, max_length), dtype=np.int32)
        mask = np.zeros((BATCH, max_length), dtype=np.int32)
        for row, e in enumerate(chunk):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        mask[len(chunk):, 0] = 1  # filler rows: one token, results thrown away
        hidden = np.asarray(model(input_ids=ids, attention_mask=mask,
                                  token_type_ids=np.zeros_like(ids)).last_hidden_state,
                            dtype=np.float64)
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        emb_out.extend(p.tolist() for p in pooled[:len(chunk)])
    json.dump({"ids": ids_out, "embeddings": emb_out}, sys.stdout)


if __name__ == "__main__":
    main()
