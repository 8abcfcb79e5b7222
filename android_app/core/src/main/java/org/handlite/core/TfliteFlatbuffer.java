package org.handlite.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Just enough of a FlatBuffers reader to get at a .tflite model's metadata entries and its
 * first subgraph's input/output tensors, with every offset bounds-checked: a truncated or
 * foreign file gives a {@link ModelMetadata.MetadataException}, never an
 * IndexOutOfBoundsException deep in a loop.
 *
 * <p>Layout facts used (FlatBuffers binary format; TFLite schema.fbs, root table Model):
 * the file starts with a uint32 offset to the root table, then the optional identifier
 * "TFL3". A table starts with an int32 that, subtracted from the table's position, gives its
 * vtable: uint16 vtable size, uint16 table size, then one uint16 offset per field (0 =
 * absent). Reference fields hold a uint32 offset relative to the field itself; vectors and
 * strings start with a uint32 length. All little-endian.
 *
 * <p>Field ids: Model {version 0, operator_codes 1, subgraphs 2, description 3, buffers 4,
 * metadata_buffer 5, metadata 6}; Metadata {name 0, buffer 1}; Buffer {data 0, offset 1, size
 * 2}; SubGraph {tensors 0, inputs 1, outputs 2}; Tensor {shape 0, type 1, buffer 2, name 3,
 * quantization 4}; QuantizationParameters {min 0, max 1, scale 2, zero_point 3}.
 */
final class TfliteFlatbuffer {
    private final ByteBuffer buf;
    private final int root;

    TfliteFlatbuffer(byte[] data) {
        this.buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        if (data.length < 8) {
            throw bad("file too short to be a .tflite model (" + data.length + " bytes)");
        }
        if (!(data[4] == 'T' && data[5] == 'F' && data[6] == 'L' && data[7] == '3')) {
            throw bad("not a .tflite model (no TFL3 identifier)");
        }
        this.root = deref(0);
    }

    private static ModelMetadata.MetadataException bad(String message) {
        return new ModelMetadata.MetadataException(message);
    }

    private void check(long pos, long len) {
        if (pos < 0 || len < 0 || pos + len > buf.capacity()) {
            throw bad("corrupt .tflite: offset " + pos + " (+" + len + ") outside the "
                    + buf.capacity() + "-byte file");
        }
    }

    private int u32(int pos) {
        check(pos, 4);
        long v = buf.getInt(pos) & 0xffffffffL;
        if (v > Integer.MAX_VALUE) {
            throw bad("corrupt .tflite: offset too large at " + pos);
        }
        return (int) v;
    }

    /** Follow the uoffset stored at pos. */
    private int deref(int pos) {
        long target = (long) pos + u32(pos);
        check(target, 1);
        return (int) target;
    }

    /** Absolute position of a field in a table, or -1 when absent. */
    private int field(int table, int id) {
        check(table, 4);
        int vtable = (int) ((long) table - buf.getInt(table));
        check(vtable, 4);
        int vtSize = buf.getShort(vtable) & 0xffff;
        int slot = 4 + 2 * id;
        if (slot + 2 > vtSize) {
            return -1;
        }
        check(vtable + slot, 2);
        int off = buf.getShort(vtable + slot) & 0xffff;
        return off == 0 ? -1 : table + off;
    }

    private int tableField(int table, int id) {
        int f = field(table, id);
        return f < 0 ? -1 : deref(f);
    }

    /** Vector start (after the length) and length, or null when absent. */
    private int[] vector(int table, int id, int elemSize) {
        int f = field(table, id);
        if (f < 0) {
            return null;
        }
        int v = deref(f);
        int n = u32(v);
        check(v + 4, (long) n * elemSize);
        return new int[] {v + 4, n};
    }

    private String string(int table, int id) {
        int[] v = vector(table, id, 1);
        if (v == null) {
            return null;
        }
        byte[] bytes = new byte[v[1]];
        buf.position(v[0]);
        buf.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private long u32Field(int table, int id, long fallback) {
        int f = field(table, id);
        return f < 0 ? fallback : (u32(f) & 0xffffffffL);
    }

    private long u64Field(int table, int id) {
        int f = field(table, id);
        if (f < 0) {
            return 0;
        }
        check(f, 8);
        return buf.getLong(f);
    }

    /** Tables of a vector of tables. */
    private List<Integer> tables(int table, int id) {
        List<Integer> out = new ArrayList<>();
        int[] v = vector(table, id, 4);
        if (v != null) {
            for (int i = 0; i < v[1]; i++) {
                out.add(deref(v[0] + 4 * i));
            }
        }
        return out;
    }

    /** Metadata entry name -> buffer index, in file order. */
    Map<String, Long> metadataEntries() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (int entry : tables(root, 6)) {
            String name = string(entry, 0);
            if (name != null) {
                out.put(name, u32Field(entry, 1, 0));
            }
        }
        return out;
    }

    /** The bytes of buffer {@code index}: inline data, or the (offset, size) span of a model
     * whose tensors sit after the flatbuffer (models over 2 GB). */
    byte[] bufferBytes(long index) {
        List<Integer> buffers = tables(root, 4);
        if (index < 0 || index >= buffers.size()) {
            throw bad("metadata points at buffer " + index + " but the model has "
                    + buffers.size() + " buffers");
        }
        int b = buffers.get((int) index);
        int[] data = vector(b, 0, 1);
        if (data != null) {
            byte[] out = new byte[data[1]];
            buf.position(data[0]);
            buf.get(out);
            return out;
        }
        long offset = u64Field(b, 1);
        long size = u64Field(b, 2);
        // offset 0 or 1 are the schema's markers for "no data"
        if (offset > 1 && size > 0) {
            check(offset, size);
            byte[] out = new byte[(int) size];
            buf.position((int) offset);
            buf.get(out);
            return out;
        }
        return new byte[0];
    }

    /** One input or output tensor of subgraph 0. */
    static final class TensorInfo {
        final String name;
        final int[] shape;
        final int type; // TFLite TensorType: 0 float32, 3 uint8, 9 int8, 1 float16 ...
        final float scale; // NaN when not quantised
        final long zeroPoint;

        TensorInfo(String name, int[] shape, int type, float scale, long zeroPoint) {
            this.name = name;
            this.shape = shape;
            this.type = type;
            this.scale = scale;
            this.zeroPoint = zeroPoint;
        }
    }

    /** Inputs (which = 1) or outputs (which = 2) of the first subgraph. */
    List<TensorInfo> tensors(int which) {
        List<Integer> subgraphs = tables(root, 2);
        List<TensorInfo> out = new ArrayList<>();
        if (subgraphs.isEmpty()) {
            return out;
        }
        int sg = subgraphs.get(0);
        List<Integer> tensors = tables(sg, 0);
        int[] io = vector(sg, which, 4);
        if (io == null) {
            return out;
        }
        for (int i = 0; i < io[1]; i++) {
            int t = buf.getInt(io[0] + 4 * i);
            if (t < 0 || t >= tensors.size()) {
                throw bad("subgraph refers to tensor " + t + " of " + tensors.size());
            }
            out.add(tensor(tensors.get(t)));
        }
        return out;
    }

    private TensorInfo tensor(int t) {
        int[] sv = vector(t, 0, 4);
        int[] shape = new int[sv == null ? 0 : sv[1]];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = buf.getInt(sv[0] + 4 * i);
        }
        int typeField = field(t, 1);
        int type = 0;
        if (typeField >= 0) {
            check(typeField, 1);
            type = buf.get(typeField);
        }
        String name = string(t, 3);
        float scale = Float.NaN;
        long zero = 0;
        int q = tableField(t, 4);
        if (q >= 0) {
            int[] sc = vector(q, 2, 4);
            int[] zp = vector(q, 3, 8);
            if (sc != null && sc[1] > 0) {
                scale = buf.getFloat(sc[0]);
            }
            if (zp != null && zp[1] > 0) {
                zero = buf.getLong(zp[0]);
            }
        }
        return new TensorInfo(name, shape, type, scale, zero);
    }
}
