// @zxcvbn-ts/language-en ships its English texts as a file of their own but declares only its index,
// which would also load the word lists the password policy does not use.
declare module '@zxcvbn-ts/language-en/dist/translations.mjs' {
  import type { TranslationKeys } from '@zxcvbn-ts/core';
  const translations: TranslationKeys;
  export default translations;
}
