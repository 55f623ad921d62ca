// The ground-truth mask of an object on a black background (Fashion-MNIST, MNIST): its nonzero
// pixels dilated by one pixel, so that the anti-aliased rim of the object counts as foreground.
#pragma once
#include <sib/core/config.hpp>

SIB_BEGIN_NAMESPACE
namespace data {

// mask[y,x] = 1 if any pixel of the 3x3 neighbourhood of (y,x) in `image` [H,W] is > 0, else 0.
inline void foreground_mask(const float* image, index_t h, index_t w, float* mask) {
    for (index_t y = 0; y < h; ++y)
        for (index_t x = 0; x < w; ++x) {
            bool on = false;
            for (index_t dy = -1; dy <= 1 && !on; ++dy)
                for (index_t dx = -1; dx <= 1 && !on; ++dx) {
                    const index_t yy = y + dy, xx = x + dx;
                    on = yy >= 0 && yy < h && xx >= 0 && xx < w && image[yy * w + xx] > 0.0f;
                }
            mask[y * w + x] = on ? 1.0f : 0.0f;
        }
}

}  // namespace data
SIB_END_NAMESPACE
