"""Task discovery: which labellings of images are learnable tasks rather than noise, and a search
over labellings for them (Sohmshetty with Zamir; Atanov et al., NeurIPS 2022)."""
