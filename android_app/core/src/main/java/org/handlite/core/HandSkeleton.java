package org.handlite.core;

/**
 * The 21-keypoint hand schema (OpenPose/CMU order = FreiHAND = MediaPipe), as in
 * {@code handlite.keypoints}: 0 wrist; 1-4 thumb (CMC, MCP, IP, tip); 5-8 index, 9-12 middle,
 * 13-16 ring, 17-20 pinky (MCP, PIP, DIP, tip).
 *
 * <p>A model's metadata carries its own names and skeleton; these are the defaults and the
 * bones the decoder's low-confidence fallback uses to define "nearest".
 */
public final class HandSkeleton {
    private HandSkeleton() {}

    public static final int NUM_KEYPOINTS = 21;

    public static final String[] NAMES = {
        "wrist",
        "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
        "index_mcp", "index_pip", "index_dip", "index_tip",
        "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
        "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
        "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
    };

    /** The 20 bones (parent, child): each finger chain hangs off the wrist. */
    public static final int[][] BONES = bones();

    private static int[][] bones() {
        int[][] out = new int[20][];
        int b = 0;
        for (int finger = 0; finger < 5; finger++) {
            int first = 1 + 4 * finger;
            out[b++] = new int[] {0, first};
            for (int j = first; j < first + 3; j++) {
                out[b++] = new int[] {j, j + 1};
            }
        }
        return out;
    }

    /** (K x K) true where two keypoints share a bone. */
    public static boolean[][] adjacency() {
        boolean[][] adj = new boolean[NUM_KEYPOINTS][NUM_KEYPOINTS];
        for (int[] bone : BONES) {
            adj[bone[0]][bone[1]] = true;
            adj[bone[1]][bone[0]] = true;
        }
        return adj;
    }
}
