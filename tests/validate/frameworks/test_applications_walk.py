"""Every keras.applications constructor, built with weights=None: counted, or refused in one line.

Counted means read layer by layer with parameters equal to Keras's ``count_params()``; refused
means one line that names the layer and why.  The list is Keras's own (``application_names``), so
a constructor a new Keras adds is walked too.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]

#: Constructors whose default input size is left open (None x None): refused at their defaults,
#: naming the first layer and the option that fixes it, and counted with --input-size 224.
OPEN_SIZE = {"MobileNetV3Large", "MobileNetV3Small"}


def test_every_application_is_counted_or_refused_in_one_line(reader):
    from validate.frameworks.keras_build import import_keras

    keras = import_keras()
    names = reader.application_names()
    assert len(names) >= 40  # Keras 3.15 has 41; a list that shrank means the walk is not reading it
    refused = {}
    for name in names:
        try:
            model = reader.load_model(name)
            network = reader.read_network(model)
            assert reader.check_params(network, model) == network.params > 0
            assert network.macs > 0 and not network.uncounted
        except ValueError as error:
            message = str(error)
            assert "\n" not in message
            refused[name] = message
        finally:
            keras.backend.clear_session()
    assert set(refused) == OPEN_SIZE, refused
    for name, message in refused.items():
        assert message.startswith("layer 'conv' reads an input of unknown size") and "--input-size" in message
        model = reader.load_model(name, input_size=224)
        network = reader.read_network(model)
        assert reader.check_params(network, model) == network.params


@pytest.mark.parametrize(
    "name, size",
    # Sequential stems (ConvNeXt), keras.ops nodes (MobileNetV3), residual scaling (InceptionResNetV2).
    [("ConvNeXtTiny", None), ("MobileNetV3Small", 224), ("InceptionResNetV2", None)],
)
def test_the_newly_read_structures_agree_with_the_profiler(reader, name, size):
    model = reader.load_model(name, input_size=size)
    network = reader.read_network(model)
    check = reader.check_network(network, model)
    assert check.checked_by == "tensorflow profiler", check.checked_by
