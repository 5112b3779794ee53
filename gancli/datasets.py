"""The image datasets gancli knows by name: the one list behind train-mnist's,
eval's and train-classifier's --dataset and the loaders (gancli.data.images). A new
dataset is added here once. Plain data, no imports: config reads it before TensorFlow
loads."""

# name -> how messages call it; "folder" is the user's own images (--data PATH)
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
          "folder": "image folder"}
DATASETS = tuple(TITLES)

# name -> its class names, label i = name i, where they are not digits ("0", "1", ...);
# generator.json keeps them (--label NAME). CIFAR-10's come with its files (data/cifar10).
CLASS_NAMES = {"fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")}
