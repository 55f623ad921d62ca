// Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016) for a 3x3 cross-correlation with stride 1 and padding 1: each 2x2 tile
// of the output is
//     Y = A^T [ (G g G^T) .* (B^T d B) ] A
// with d the 4x4 input patch around it and g the 3x3 kernel, summed over input channels. The sum
// over channels of the element-wise products is, for each of the 16 positions xi of the 4x4
// transform, one matrix product U[xi] [O, C] x V[xi] [C, tiles]: 16 products of (4x4)/(2x2) = 4
// values per output pixel instead of im2col's 9, so 2.25x fewer multiplications, and an input
// transform 4x the input's size instead of im2col's 9x.
//
// The transforms are adds and halvings, exact but for rounding: in float64 the results agree with
// the im2col products' to 1e-13, and in float32 their error is about the products' (measured:
// 0.4-1.7x; tests/test_fast_paths.cpp).
//
// These are the host kernels of conv2d's fast path (sib/layers/conv2d.hpp), on plain pointers.
#pragma once
#include <sib/core/config.hpp>

SIB_BEGIN_NAMESPACE
namespace nn::winograd {

inline constexpr index_t positions = 16;  // of the 4x4 transform

// Tiles along an axis of n output pixels (the last one may be half outside).
inline index_t tiles_along(index_t n) { return (n + 1) / 2; }

// Row `row` of u [16][O][C] <- G g G^T of the kernels g = w[row][c] of w [O][C][3][3].
//
// With `adjoint`, row `row` of u [16][C][O] instead: the transforms of the transposed convolution
// (the vjp: a gradient at the output of a stride-1, padding-1 3x3 convolution back to its input),
// whose kernels are w[o][row] turned by 180 degrees, g -> J g J with J the reversal. G J = P G,
// where P swaps rows 0 and 3, so that transform is the same values at position (P a, P b).
template <class T>
void transform_kernels(const T* w, index_t o, index_t c, index_t row, bool adjoint, T* u) {
    const index_t plane = o * c, cols = adjoint ? o : c;
    const auto p = [adjoint](int i) { return adjoint && (i == 0 || i == 3) ? 3 - i : i; };
    for (index_t col = 0; col < cols; ++col) {
        const T* g = w + (adjoint ? col * c + row : row * c + col) * 9;
        T gg[4][3];  // G g
        for (int b = 0; b < 3; ++b) {
            gg[0][b] = g[b];
            gg[1][b] = T(0.5) * (g[b] + g[3 + b] + g[6 + b]);
            gg[2][b] = T(0.5) * (g[b] - g[3 + b] + g[6 + b]);
            gg[3][b] = g[6 + b];
        }
        for (int a = 0; a < 4; ++a) {  // (G g) G^T
            const T r[4] = {gg[a][0], T(0.5) * (gg[a][0] + gg[a][1] + gg[a][2]),
                            T(0.5) * (gg[a][0] - gg[a][1] + gg[a][2]), gg[a][2]};
            for (int b = 0; b < 4; ++b) u[(p(a) * 4 + p(b)) * plane + row * cols + col] = r[b];
        }
    }
}

// Room transform_plane needs for tile rows ty0 .. ty1 - 1 of a plane w wide.
inline index_t staging_size(index_t rows, index_t w) {
    const index_t tw = tiles_along(w);
    return 8 * (rows + 1) * tw + 2 * tw + 4;
}

// v [16][C][ld] at columns t0 + tile, tile = (ty - ty0) * tw + tx, <- B^T d B of the 4x4 patches
// of the plane x [h][w] (zero outside it) whose top-left corners are (2 ty - 1, 2 tx - 1), for
// the tile rows ty0 <= ty < ty1: one channel of one sample, its positions position_stride
// (= C * ld) apart. staging holds staging_size(ty1 - ty0, w) values.
//
// B^T d B is separable. First every input row r the tiles touch gets d B along it, for all its
// tiles: rows[b][r][tx] from x[r][2 tx - 1 .. 2 tx + 2]. Rows 2k - 1 and 2k go to separate arrays
// (odd and even), so that a tile's four rows 2 ty - 1 .. 2 ty + 2 lie at one flat offset u =
// (ty - ty0) * tw + tx, u + tw of them; then B^T across the rows is a loop over u that runs through
// the block's tiles in order, vectorised, with no bounds.
template <class T>
void transform_plane(const T* x, index_t h, index_t w, index_t ty0, index_t ty1, T* v, index_t position_stride,
                     index_t t0, T* staging) {
    const index_t tw = tiles_along(w), ps = position_stride, nr = ty1 - ty0, n = nr * tw;
    const index_t plane = (nr + 1) * tw;  // of one b in one of the two arrays
    T* odd_rows = staging;               // [4][nr + 1][tw]: input row 2k - 1 at k - ty0
    T* even_rows = staging + 4 * plane;  // [4][nr + 1][tw]: input row 2k at k - ty0
    T* padded = staging + 8 * plane;     // one input row, padded[i] = x[r][i - 1]
    const index_t span = 2 * tw + 2;
    for (index_t r = 2 * ty0 - 1; r <= 2 * ty1; ++r) {
        const index_t k = (r + 1) / 2 - ty0;
        T* dst = ((r + 1) % 2 == 0 ? odd_rows : even_rows) + k * tw;
        if (r < 0 || r >= h) {
            for (int b = 0; b < 4; ++b)
                for (index_t tx = 0; tx < tw; ++tx) dst[b * plane + tx] = T(0);
            continue;
        }
        const T* row = x + r * w;
        padded[0] = T(0);
        for (index_t i = 0; i < w; ++i) padded[i + 1] = row[i];
        for (index_t i = w + 1; i < span; ++i) padded[i] = T(0);
        T* d0 = dst;
        T* d1 = dst + plane;
        T* d2 = dst + 2 * plane;
        T* d3 = dst + 3 * plane;
        for (index_t tx = 0; tx < tw; ++tx) {  // (d B) for the row's tiles
            const T a = padded[2 * tx], b = padded[2 * tx + 1], c = padded[2 * tx + 2], d = padded[2 * tx + 3];
            d0[tx] = a - c;
            d1[tx] = b + c;
            d2[tx] = c - b;
            d3[tx] = b - d;
        }
    }
    T* dst = v + t0;
    for (int b = 0; b < 4; ++b) {  // B^T (d B) across each tile's four rows
        const T* r0 = odd_rows + b * plane;
        const T* r1 = even_rows + b * plane;
        const T* r2 = r0 + tw;
        const T* r3 = r1 + tw;
        T* p0 = dst + (0 * 4 + b) * ps;
        T* p1 = dst + (1 * 4 + b) * ps;
        T* p2 = dst + (2 * 4 + b) * ps;
        T* p3 = dst + (3 * 4 + b) * ps;
        for (index_t u = 0; u < n; ++u) {
            p0[u] = r0[u] - r2[u];
            p1[u] = r1[u] + r2[u];
            p2[u] = r2[u] - r1[u];
            p3[u] = r1[u] - r3[u];
        }
    }
}

// The output transform works on a row of up to `block` tiles at a time, each value of a position
// going to consecutive columns: its loops vectorise.
inline constexpr index_t block = 16;

// The tile rows ty0 <= ty < ty1 of the plane y [h][w] <- A^T m A of its tiles, m [16][...] at
// columns t0 + (ty - ty0) * tw + tx (position_stride apart per position), plus `bias` (the tiles'
// pixels outside y are dropped).
template <class T>
void untransform_plane(const T* m, index_t position_stride, index_t t0, T bias, T* y, index_t h, index_t w,
                       index_t ty0, index_t ty1) {
    const index_t tw = tiles_along(w), ps = position_stride;
    for (index_t ty = ty0; ty < ty1; ++ty)
        for (index_t tx0 = 0; tx0 < tw; tx0 += block) {
            const index_t nb = tw - tx0 < block ? tw - tx0 : block;
            const T* src = m + t0 + (ty - ty0) * tw + tx0;
            T out[2][2 * block];
            for (index_t i = 0; i < nb; ++i) {
                T s[2][4];  // A^T m
                for (int b = 0; b < 4; ++b) {
                    const T m0 = src[(0 + b) * ps + i], m1 = src[(4 + b) * ps + i], m2 = src[(8 + b) * ps + i],
                            m3 = src[(12 + b) * ps + i];
                    s[0][b] = m0 + m1 + m2;
                    s[1][b] = m1 - m2 - m3;
                }
                for (int a = 0; a < 2; ++a) {  // (A^T m) A
                    out[a][2 * i] = bias + (s[a][0] + s[a][1] + s[a][2]);
                    out[a][2 * i + 1] = bias + (s[a][1] - s[a][2] - s[a][3]);
                }
            }
            const index_t ox = 2 * tx0, width = 2 * nb < w - ox ? 2 * nb : w - ox;
            for (int a = 0; a < 2; ++a) {
                const index_t oy = 2 * ty + a;
                if (oy >= h) break;
                T* row = y + oy * w + ox;
                for (index_t k = 0; k < width; ++k) row[k] = out[a][k];
            }
        }
}

}  // namespace nn::winograd
SIB_END_NAMESPACE
