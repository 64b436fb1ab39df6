"""How long `t5qa ask` takes to answer one question once the model is loaded (t5qa.model.ask.Asker, in memory).

  python benchmarks/ask_latency.py [THREADS]

On a demo-shaped scratch model (d_model 128, 2+2 layers, a 1,000-piece tokenizer trained on demo text), untrained,
so it generates all of max_new_tokens (32): the slowest case for this shape. Prints the load time and the median
and fastest of 20 answers after one warm-up.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from t5qa.data.demo_data import generate
from t5qa.model.ask import Asker
from t5qa.model.scratch_model import build_model, train_tokenizer
from t5qa.settings import PredictSettings, TokenizeSettings

ARCHITECTURE = {"d_model": 128, "d_ff": 512, "d_kv": 32, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2}
QUESTION = {"id": "1", "question": "Why did the mill stop?", "context": "The mill stopped because the river froze."}


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    folder = Path(tempfile.mkdtemp())
    texts = ["question: context: unanswerable"]
    texts += [text for group in generate(5, 300, "t") for ex in group for text in (ex.question, ex.context)]
    tokenizer = train_tokenizer(texts, vocab_size=1000, seed=0)
    build_model(tokenizer, ARCHITECTURE, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    started = time.perf_counter()
    asker = Asker(str(folder), TokenizeSettings.from_dict({"max_source_length": 256, "max_target_length": 32}))
    loaded = time.perf_counter() - started
    settings = PredictSettings.from_dict({"max_new_tokens": 32})
    asker.ask([QUESTION], settings)  # warm-up
    times = []
    for _ in range(20):
        started = time.perf_counter()
        asker.ask([QUESTION], settings)
        times.append(time.perf_counter() - started)
    print(
        f"load {loaded:.2f} s; one question, 32 generated tokens: median {statistics.median(times) * 1000:.0f} ms, "
        f"fastest {min(times) * 1000:.0f} ms of 20, {torch.get_num_threads()} torch thread(s)"
    )


if __name__ == "__main__":
    main()
