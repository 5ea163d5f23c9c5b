"""Neural building blocks that caps, spaces and output nets share (MultiModel's separable
convolutions and attention block): plain modules, no registry, one layer below the parts."""
