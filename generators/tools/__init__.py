"""Scripts beside the library, not part of it: the README's pictures (``contact_sheet``,
``augment_gallery``) and the fetch of robosuite's demonstrations (``robosuite_assets``), each
run as ``python -m datapipe.generators.tools.<name>``. Nothing in the library imports them."""
