"""The heatmap codec: Gaussian heatmap targets (encode) and keypoint decoding (decode).

Shapes: K keypoints (21), H x W heatmap (input_size / stride), maps (H, W, K+1) with the
background map last; batches (N, H, W, K+1). Keypoints are (x, y) in input pixels.

Coordinate convention (pixel centres, everywhere in handlite, the Java app included): heatmap
cell (u, v) covers input pixels whose centre is at ((u + 0.5) * stride - 0.5, (v + 0.5) *
stride - 0.5). So the heatmap position of an input point x is u = (x + 0.5) / stride - 0.5.

The decode spec (paper sec. 3.3, extended):
1. drop the background map; spatial softmax of `beta * h` per keypoint map;
2. argmax (the first cell in row-major order on ties); the score is the maximum probability;
3. low-confidence fallback: for a keypoint whose score is below `min_confidence`, take the
   `fallback_peaks` strongest local maxima of its probability map (a cell >= its in-map 3x3
   neighbours; strongest first, ties by the lower cell index) and pick the one *nearest* to
   the confidently found keypoints. "Nearest" is defined as the smallest Euclidean distance
   (heatmap pixels, to their integer argmax cells) to any confident keypoint that shares a
   bone with it (its skeleton neighbours); if none of its neighbours is confident, the
   distance to the closest confident keypoint of the whole hand; if no keypoint is confident,
   the argmax stays; a tie in distance goes to the stronger candidate. The score becomes the
   probability at the chosen peak.
4. sub-pixel refinement on the raw map around the chosen cell: "dark" fits a quadratic to
   log(h) on the 3x3 window (DARK, Zhang et al. 2020: exact for a Gaussian peak) with the
   window clamped inside the map so border peaks refine too; it falls back to "quarter" (a
   quarter cell towards the higher neighbour) where the fit is not a maximum, needs a
   non-positive value, or moves more than one cell.

Modules: `spec` (DecodeSettings, the coordinate convention, shared constants), `targets`
(encode), `decode` (float decode), `quantized` (quantised decode, numpy and numba), `refine`
(step 4: the one DARK fit, `dark_fit`, and the quarter step), `graph` (the in-graph decode in
TensorFlow ops), `core` (`HeatmapCodec`, which binds a geometry and settings to all of them).

The decode paths, and what pins each one to the spec:
- numpy float decode (`HeatmapCodec.decode`, one frame or a batch; training metrics, parity,
  the runtime's float models): bit for bit the test reference (tests/codec/test_fast_decode.py)
  and the golden vectors' float cases (tests/app/test_golden.py);
- quantised numpy decode (`decode_quantized` with `HeatmapCodec.use_jit = False`, what runs
  without numba): the reference on the dequantised maps (keypoints to 1e-4 px, scores to
  1e-5; tests/codec, "numpy" runs) and the golden quantised cases (tests/app/test_golden.py);
- numba decode (`decode_quantized` / `quantized_decoder` when numba imports, ~50 us a frame
  at 224; the host runtime's int8 models): the same tests, "jit" / "compiled" runs;
- TF graph decode (`decode_graph`, exported `decode="keypoints"` models; steps 1, 2 and 4,
  no fallback): the codec with `min_confidence=0` in tests/codec/test_paths_agree.py and,
  converted to TFLite, tests/export/test_export.py (test_in_graph_decode_matches_the_codec);
- Java `HeatmapDecoder` (android_app/core, `decode` and `decodeQuantized`): the golden
  vectors in android_app/core/src/test/resources/golden (index.json), written from this
  package by tests/app/make_golden.py and checked by GoldenDecoderTest
  (`android_app/core/build.sh`); tests/app/test_golden.py checks that regenerating them
  reproduces the committed files;
- the test reference (tests/codec/reference_decoder.py): a frozen copy of the straightforward
  implementation, the oracle of the paths above; it is not edited.
"""

from handlite.codec.core import HeatmapCodec
from handlite.codec.graph import decode_graph
from handlite.codec.spec import REFINE_METHODS, DecodeSettings

__all__ = ["DecodeSettings", "HeatmapCodec", "REFINE_METHODS", "decode_graph"]
