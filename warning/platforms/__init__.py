"""The platforms above the district: their upload formats in (national SM4, provincial DES), and
what is pushed up to them. Pure codecs; the HTTP edge is ``warning.web.platform_api``."""
