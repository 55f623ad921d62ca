// The paper's setting from C++: torchvision's ResNet-18 trained with S-IB on a folder of photos
// (torchvision's ImageFolder layout, any image size), then explained with Grad-CAM on layer4.
//
//   train_resnet_photos DIR [IMAGE_SIZE=224] [EPOCHS=1] [BATCH=16]
//
// DIR holds train/<class>/<image> (and optionally test/<class>/<image>, masks/train, masks/test).
// Training images get RandomResizedCrop + flip, test images Resize + CenterCrop, both Normalize
// with ImageNet's statistics; decoding runs on worker threads ahead of the step. The checkpoint
// (resnet18.safetensors) carries torchvision's state-dict names, and overlays of the first test
// images go to gradcam_<i>.png.
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/open.hpp>
#include <sib/explain/gradcam.hpp>
#include <sib/io/heatmap.hpp>
#include <sib/models/resnet.hpp>
#include <sib/train/objective.hpp>
#include <sib/train/trainer.hpp>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) == "--help") {
        std::cerr << "usage: train_resnet_photos DIR [IMAGE_SIZE=224] [EPOCHS=1] [BATCH=16]\n";
        return argc < 2 ? 2 : 0;
    }
    try {
        using F = float;
        sib::set_num_threads(2);
        sib::data::photo_folder_options po;
        po.image_size = argc > 2 ? std::stoi(argv[2]) : 224;
        const auto data = sib::data::open_photo_folders(argv[1], po);

        sib::models::resnet18<F> model({.num_classes = data.train.num_classes()});
        // S-IB at the paper's weights; the mask's default window is the paper's, 31 at 224x224.
        auto objective = sib::train::make_sib_objective<F>();

        sib::train::train_options o;
        o.epochs = argc > 3 ? std::stoll(argv[3]) : 1;
        o.batch_size = argc > 4 ? std::stoll(argv[4]) : 16;
        o.checkpoint = "resnet18.safetensors";
        sib::train::trainer trainer(model, std::move(objective), sib::optim::adamw<F>(), o, "resnet18");
        trainer.initialise();
        const auto& test = data.test ? *data.test : data.train;
        const auto result = trainer.run(data.train, test);
        std::cout << "test accuracy " << result.test_accuracy << ", " << result.images_per_second
                  << " images/s; checkpoint resnet18.safetensors\n";

        // Grad-CAM on torchvision's target layer for ResNets, layer4, of the first test images.
        const sib::index_t n = std::min<sib::index_t>(4, test.size());
        sib::data::batch_loader<F> loader(test, sib::data::in_order(n));
        loader.set_epoch(0);
        sib::data::batch_loader<F>::batch_type batch;
        loader.load_positions(0, n, batch);
        sib::tensor<F> maps;
        sib::explain::gradcam(model, batch.images, batch.labels, maps,
                              {.layer = sib::explain::find_module(model, "layer4")});
        const auto s = batch.images.shape();
        for (sib::index_t i = 0; i < n; ++i) {
            sib::tensor<F> image({s[1], s[2], s[3]}), map({1, s[2], s[3]});
            sib::cpu::copy(image.size(), batch.images.data() + i * image.size(), image.data());
            sib::cpu::copy(map.size(), maps.data() + i * map.size(), map.data());
            sib::io::write_overlay("gradcam_" + std::to_string(i) + ".png", image, map);
        }
        std::cout << "Grad-CAM (layer4) of " << n << " test images: gradcam_0.png ...\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "train_resnet_photos: error: " << e.what() << "\n";
        return 1;
    }
}
