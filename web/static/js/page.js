// Entry module of the simple pages (error.html): fills in data-i18n texts.
import { applyI18n, detectLanguage, setLanguage } from "./i18n.js";

setLanguage(detectLanguage(document.documentElement.lang));
applyI18n(document);
