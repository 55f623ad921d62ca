// The ground-truth mask of an object on a black background (Fashion-MNIST, MNIST): its nonzero
// pixels dilated by one pixel, so that the anti-aliased rim of the object counts as foreground.
#pragma once
#include <sib/core/config.hpp>

SIB_BEGIN_NAMESPACE
namespace data {

// mask[y,x] = 1 if any pixel of the 3x3 neighbourhood of (y,x) in `image` [H,W] is > 0, else 0.
// The 3x3 dilation is separable: a vertical pass from the image, then a horizontal one in place.
inline void foreground_mask(const float* image, index_t h, index_t w, float* mask) {
    for (index_t y = 0; y < h; ++y)
        for (index_t x = 0; x < w; ++x) {
            const bool on = image[y * w + x] > 0.0f || (y > 0 && image[(y - 1) * w + x] > 0.0f) ||
                            (y + 1 < h && image[(y + 1) * w + x] > 0.0f);
            mask[y * w + x] = on ? 1.0f : 0.0f;
        }
    for (index_t y = 0; y < h; ++y) {
        float* row = mask + y * w;
        float left = 0.0f;
        for (index_t x = 0; x < w; ++x) {
            const float here = row[x], right = x + 1 < w ? row[x + 1] : 0.0f;
            row[x] = left > 0.0f || here > 0.0f || right > 0.0f ? 1.0f : 0.0f;
            left = here;
        }
    }
}

}  // namespace data
SIB_END_NAMESPACE
